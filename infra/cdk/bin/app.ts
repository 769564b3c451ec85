#!/usr/bin/env node
// The CDK app: one stack per guarded Chainlink stack, named after it. Settings come from CDK
// context (cdk.json defaults, `-c key=value` overrides); cdk-nag's AwsSolutions checks run on
// every synth, and an unacknowledged finding fails it.

import * as path from 'node:path';
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RemediatorStack } from '../lib/remediator-stack';
import { settingsFromContext } from '../lib/settings';

// dist/bin/app.js -> infra/cdk
const cdkDir = path.resolve(__dirname, '..', '..');
const app = new App();
// `-c skipBundling=true`: synthesize without building the Rust binaries (a release arm64 build
// takes 20+ minutes). The CLI refuses user context keys prefixed with `aws:`, so the app sets
// the key CDK reads itself; the function code then points at the unbuilt workspace, which is
// fine to inspect and test, and must not be deployed.
const skipBundling = [true, 'true'].includes(app.node.tryGetContext('skipBundling'));
if (skipBundling) app.node.setContext('aws:cdk:bundling-stacks', []);
const settings = settingsFromContext(app.node, cdkDir);

new RemediatorStack(app, `ChainlinkRemediator-${settings.stackName}`, {
  description: `chainlink-remediator: remediation functions of Chainlink stack ${settings.stackName}`,
  settings,
  workspaceDir: path.resolve(cdkDir, '..', '..'),
});

Tags.of(app).add('chainlink:stack', settings.stackName);
Tags.of(app).add('chainlink:role', 'remediator');
Validations.of(app).addPlugins(
  new AwsSolutionsChecks(app, { writeSuppressionsToCloudFormation: true }),
);
