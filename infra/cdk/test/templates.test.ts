// What a deployment of the remediator must contain, asserted on the synthesized templates: the
// CDK app's (cdk.out, from `cdk synth`) and, when given, the SAM template transformed to plain
// CloudFormation (SAM_TRANSFORMED_TEMPLATE, written by scripts/infra_check.sh). Both are read
// with their default settings, stack "demo"; then both again with the instance alarms on and
// the stack file in Parameter Store, with approvals on, with report pages on, and with an
// organisation on (the CDK app synthesized in process, without bundling); and the member
// template of an organisation (infra/member/template.yaml), against both central templates.
//
//   npm run synth && npm test      (or: bash scripts/infra_check.sh, which also checks SAM)

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App, Tags } from 'aws-cdk-lib';
import { FILESYSTEM_DOCUMENT_CONTENT, RemediatorStack } from '../lib/remediator-stack';
import { settingsFromContext } from '../lib/settings';
import { isObject, Json, Resource, resolveTemplate, Template } from './resolve';

const STACK = 'demo';
/** The approval key parameter of the approvals variants (SAM ApprovalKeyParameter, CDK approvalKeyParameter). */
const APPROVAL_KEY = `/chainlink-remediator/${STACK}/approval-key`;
const APPROVAL_KEY_ARN = `arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${APPROVAL_KEY}`;
/** security-group-guard's statements with approvals that record an approval's use on the stack's groups. */
const APPROVAL_TAG_SIDS = ['ReadApprovalTags', 'RecordApprovalTagOnly'];
const CDK_DIR = path.resolve(__dirname, '..', '..');
const CDK_TEMPLATE = path.join(
  process.env.CDK_OUT_DIR ?? path.join(CDK_DIR, 'cdk.out'),
  `ChainlinkRemediator-${STACK}.template.json`,
);

type Statement = {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: Json;
  Condition?: Record<string, Record<string, Json>>;
};

/** The engine's mount-path rule, read from the Rust source the planner uses. */
function engineMountPathRule(): { pattern: string; maxChars: number } {
  const source = fs.readFileSync(path.join(CDK_DIR, '..', '..', 'shared', 'domain', 'src', 'instances', 'plan.rs'), 'utf8');
  const pattern = /pub const MOUNT_PATH_PATTERN: &str = r"([^"]*)";/.exec(source);
  const maxChars = /pub const MOUNT_PATH_MAX_CHARS: usize = (\d+);/.exec(source);
  assert.ok(pattern && maxChars, 'MOUNT_PATH_PATTERN and MOUNT_PATH_MAX_CHARS in plan.rs');
  return { pattern: pattern[1], maxChars: Number(maxChars[1]) };
}

/** A template's functions and what their roles are granted. */
function grantsOf(template: Template) {
  const props = (r: Resource) => r.Properties ?? {};
  const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
  const fnByDescription = (words: string): string => {
    const found = ofType('AWS::Lambda::Function').filter(([, f]) => String(props(f).Description).includes(words));
    assert.equal(found.length, 1, `one function described with "${words}"`);
    return found[0][0];
  };
  const roleOf = (fnId: string): string => {
    const role = props(template.Resources[fnId]).Role as Json;
    assert.ok(isObject(role) && Array.isArray(role['Fn::GetAtt']), `${fnId} has a role of this stack`);
    return (role['Fn::GetAtt'] as string[])[0];
  };
  // Every statement granted to a role: inline policies, attached policies of this stack and
  // policies attached to it (AWS::IAM::Policy).
  const statementsOf = (roleId: string): Statement[] => {
    const role = template.Resources[roleId];
    const docs: Json[] = [];
    for (const p of (props(role).Policies as Json[] | undefined) ?? []) {
      if (isObject(p)) docs.push(p.PolicyDocument);
    }
    for (const arn of (props(role).ManagedPolicyArns as Json[] | undefined) ?? []) {
      if (isObject(arn) && typeof arn.Ref === 'string') {
        docs.push(props(template.Resources[arn.Ref]).PolicyDocument);
      }
    }
    for (const [, policy] of ofType('AWS::IAM::Policy')) {
      const roles = (props(policy).Roles as Json[]) ?? [];
      if (roles.some((r) => isObject(r) && r.Ref === roleId)) docs.push(props(policy).PolicyDocument);
    }
    return docs.flatMap((d) => (isObject(d) ? (d.Statement as unknown as Statement[]) : []));
  };
  return { fnByDescription, roleOf, statementsOf };
}

/** Whether an IAM pattern (an action or resource with `*` and `?`) covers `name`, as IAM matches. */
function covers(pattern: string, name: string, caseless = false): boolean {
  const glob = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${glob}$`, caseless ? 'i' : '').test(name);
}

const templates: Array<[string, string]> = [['cdk', CDK_TEMPLATE]];
if (process.env.SAM_TRANSFORMED_TEMPLATE) {
  templates.push(['sam', process.env.SAM_TRANSFORMED_TEMPLATE]);
}

for (const [name, file] of templates) {
  describe(`${name} template (${path.basename(file)})`, () => {
    assert.ok(fs.existsSync(file), `${file} is missing: synthesize it first`);
    const template = resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template);
    const resources = Object.entries(template.Resources);
    const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
    const props = (r: Resource) => r.Properties ?? {};

    const functions = ofType('AWS::Lambda::Function');
    const { fnByDescription, roleOf, statementsOf } = grantsOf(template);
    const securityGroupGuard = fnByDescription('security-group drift');
    const parameterGuard = fnByDescription('node parameters');
    const instanceGuard = fnByDescription('CloudWatch alarms');

    const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
    const resourcesOf = (s: Statement) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);
    const targetsOf = (rule: Resource): string[] =>
      ((props(rule).Targets as Json[]) ?? []).map((t) => {
        const arn = isObject(t) ? t.Arn : null;
        return isObject(arn) && Array.isArray(arn['Fn::GetAtt']) ? String(arn['Fn::GetAtt'][0]) : '';
      });
    const tags = (r: Resource): Record<string, Json> => {
      const t = props(r).Tags as Json;
      if (Array.isArray(t)) {
        return Object.fromEntries(t.filter(isObject).map((x) => [String(x.Key), x.Value]));
      }
      return isObject(t) ? t : {};
    };
    // The same deployment with approvals on (SAM ApprovalKeyParameter, CDK approvalKeyParameter).
    const withApprovals = (): Template =>
      name === 'cdk'
        ? resolveTemplate(cdkTemplateWith({ approvalKeyParameter: APPROVAL_KEY }))
        : resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, { ApprovalKeyParameter: APPROVAL_KEY });
    // The same deployment with report pages on (SAM ReportPages, CDK reportPages), and approvals
    // too when asked.
    const withReportPages = (approvals = false): Template =>
      name === 'cdk'
        ? resolveTemplate(cdkTemplateWith({ reportPages: true, ...(approvals ? { approvalKeyParameter: APPROVAL_KEY } : {}) }))
        : resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, {
          ReportPages: 'true', ...(approvals ? { ApprovalKeyParameter: APPROVAL_KEY } : {}),
        });

    it('has the three functions: arm64, provided.al2023, bootstrap, 256 MB, one at a time', () => {
      assert.equal(functions.length, 3);
      for (const [id, fn] of functions) {
        const p = props(fn);
        assert.deepEqual(p.Architectures, ['arm64'], id);
        assert.equal(p.Runtime, 'provided.al2023', id);
        assert.equal(p.Handler, 'bootstrap', id);
        assert.equal(p.MemorySize, 256, id);
        assert.equal(p.ReservedConcurrentExecutions, 1, id);
        assert.deepEqual(
          { ...(p.LoggingConfig as Record<string, Json>), LogGroup: undefined },
          { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'WARN', LogGroup: undefined },
          id,
        );
        const env = (p.Environment as { Variables: Record<string, Json> }).Variables;
        assert.equal(env.REMEDIATOR_MODE, 'report', id);
        assert.equal(env.METRICS_NAMESPACE, 'ChainlinkRemediator', id);
        assert.ok(env.REPORT_TOPIC_ARN, `${id} has REPORT_TOPIC_ARN`);
        assert.match(String(env.STACK_FILE), /stack\.toml$/, `${id} reads the bundled stack file`);
        // The engine checks the stack file's vpcs against the ones IAM lets it write in.
        assert.ok(JSON.stringify(env.STACK_VPC_IDS ?? null).includes('StackVpcIds'), `${id} gets STACK_VPC_IDS`);
        assert.equal(tags(fn)['chainlink:stack'], STACK, id);
        assert.equal(tags(fn)['chainlink:role'], 'remediator', id);
      }
      assert.equal(props(template.Resources[instanceGuard]).Timeout, 900);
      assert.equal(props(template.Resources[securityGroupGuard]).Timeout, 120);
      assert.equal(props(template.Resources[parameterGuard]).Timeout, 120);
    });

    it('routes CloudTrail and AWS Config security-group events to security-group-guard', () => {
      const rules = ofType('AWS::Events::Rule').filter(([, r]) => props(r).EventPattern);
      const cloudTrail = rules.find(([, r]) => JSON.stringify(props(r).EventPattern).includes('AWS API Call via CloudTrail'));
      assert.ok(cloudTrail, 'a CloudTrail rule');
      assert.deepEqual(props(cloudTrail[1]).EventPattern, {
        source: ['aws.ec2'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['ec2.amazonaws.com'],
          eventName: [
            'AuthorizeSecurityGroupIngress',
            'AuthorizeSecurityGroupEgress',
            'RevokeSecurityGroupIngress',
            'RevokeSecurityGroupEgress',
            'ModifySecurityGroupRules',
            'CreateSecurityGroup',
            'UpdateSecurityGroupRuleDescriptionsIngress',
            'UpdateSecurityGroupRuleDescriptionsEgress',
          ],
        },
      });
      assert.deepEqual(targetsOf(cloudTrail[1]), [securityGroupGuard]);
      const config = rules.find(([, r]) => JSON.stringify(props(r).EventPattern).includes('Config Configuration Item Change'));
      assert.ok(config, 'an AWS Config rule');
      assert.deepEqual(props(config[1]).EventPattern, {
        source: ['aws.config'],
        'detail-type': ['Config Configuration Item Change'],
        detail: {
          $or: [
            {
              messageType: ['ConfigurationItemChangeNotification'],
              configurationItem: { resourceType: ['AWS::EC2::SecurityGroup'] },
            },
            {
              messageType: ['OversizedConfigurationItemChangeNotification'],
              configurationItemSummary: { resourceType: ['AWS::EC2::SecurityGroup'] },
            },
          ],
        },
      });
      assert.deepEqual(targetsOf(config[1]), [securityGroupGuard]);
    });

    it("routes the stack's Parameter Store changes to parameter-guard", () => {
      const rule = ofType('AWS::Events::Rule').find(([, r]) => JSON.stringify(props(r).EventPattern ?? '').includes('Parameter Store Change'));
      assert.ok(rule);
      assert.deepEqual(props(rule[1]).EventPattern, {
        source: ['aws.ssm'],
        'detail-type': ['Parameter Store Change'],
        detail: { name: [{ prefix: `/chainlink/${STACK}/` }] },
      });
      assert.deepEqual(targetsOf(rule[1]), [parameterGuard]);
    });

    it("routes the stack's parameter policy actions (expiration) to parameter-guard", () => {
      const rule = ofType('AWS::Events::Rule').find(([, r]) => JSON.stringify(props(r).EventPattern ?? '').includes('Parameter Store Policy Action'));
      assert.ok(rule);
      assert.deepEqual(props(rule[1]).EventPattern, {
        source: ['aws.ssm'],
        'detail-type': ['Parameter Store Policy Action'],
        detail: { 'parameter-name': [{ prefix: `/chainlink/${STACK}/` }] },
      });
      assert.deepEqual(targetsOf(rule[1]), [parameterGuard]);
    });

    it("routes the stack's alarms entering ALARM to instance-guard", () => {
      const rule = ofType('AWS::Events::Rule').find(([, r]) => JSON.stringify(props(r).EventPattern ?? '').includes('CloudWatch Alarm State Change'));
      assert.ok(rule);
      assert.deepEqual(props(rule[1]).EventPattern, {
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: { alarmName: [{ prefix: `${STACK}-` }], state: { value: ['ALARM'] } },
      });
      assert.deepEqual(targetsOf(rule[1]), [instanceGuard]);
    });

    it('sweeps security groups and parameters on rate schedules', () => {
      const schedules = ofType('AWS::Events::Rule').filter(([, r]) => props(r).ScheduleExpression);
      const byTarget = Object.fromEntries(
        schedules.map(([, r]) => [targetsOf(r)[0], props(r).ScheduleExpression]),
      );
      assert.equal(schedules.length, 2);
      assert.equal(byTarget[securityGroupGuard], 'rate(15 minutes)');
      assert.equal(byTarget[parameterGuard], 'rate(1 hour)');
    });

    it('grants every function permission to invoke only through its rules', () => {
      for (const [id, perm] of ofType('AWS::Lambda::Permission')) {
        assert.equal(props(perm).Principal, 'events.amazonaws.com', id);
        assert.ok(props(perm).SourceArn, `${id} is limited to one rule`);
      }
    });

    it('conditions every mutating EC2, Auto Scaling and Run Command permission on the stack tag', () => {
      const tagged = (s: Statement, key: string) =>
        Object.values(s.Condition ?? {}).some((c) => c[key] === STACK);
      let mutating = 0;
      for (const fn of [securityGroupGuard, parameterGuard, instanceGuard]) {
        for (const s of statementsOf(roleOf(fn))) {
          assert.equal(s.Effect, 'Allow');
          for (const action of actions(s)) {
            const [service, op] = action.split(':');
            if (/^(Describe|Get|List)/.test(op)) continue;
            if (service === 'ec2') {
              mutating += 1;
              // Two statements exist only for the launch check Auto Scaling makes when a group
              // moves to a new launch template version; RunInstances also needs the tagged
              // template (asserted below), and tags at launch only within RunInstances.
              const launchThroughTemplate =
                action === 'ec2:RunInstances' && s.Condition?.ArnLike?.['ec2:LaunchTemplate'] !== undefined;
              const tagOnLaunch =
                action === 'ec2:CreateTags' && s.Condition?.StringEquals?.['ec2:CreateAction'] === 'RunInstances';
              assert.ok(
                tagged(s, 'aws:ResourceTag/chainlink:stack') || launchThroughTemplate || tagOnLaunch,
                `${fn}: ${action} (${s.Sid}) needs aws:ResourceTag/chainlink:stack = ${STACK}`,
              );
            }
            if (service === 'autoscaling') {
              assert.ok(tagged(s, 'autoscaling:ResourceTag/chainlink:stack'), `${fn}: ${action}`);
            }
            if (action === 'ssm:SendCommand') {
              const onInstances = resourcesOf(s).some((r) => String(r).includes(':instance/'));
              assert.ok(!onInstances || tagged(s, 'ssm:resourceTag/chainlink:stack'), `${fn}: ${action}`);
              // Asserted in detail below: the stack's document and the stack's instances only.
              assert.equal(fn, instanceGuard, `${fn} may not SendCommand`);
            }
            if (service === 'ssm' && action !== 'ssm:SendCommand') {
              for (const r of resourcesOf(s)) {
                assert.match(String(r), new RegExp(`:parameter/chainlink/${STACK}(/\\*)?$`), `${fn}: ${action} on ${r}`);
              }
            }
            assert.notEqual(action, 'iam:PassRole', 'no PassRole unless a node instance role is given');
          }
        }
      }
      assert.ok(mutating >= 10, 'the mutating statements were found');
      const launch = statementsOf(roleOf(instanceGuard)).find(
        (s) => actions(s).includes('ec2:RunInstances') && resourcesOf(s).some((r) => String(r).includes(':launch-template/')),
      );
      assert.ok(launch && tagged(launch, 'aws:ResourceTag/chainlink:stack'), 'RunInstances needs a template of this stack');
      for (const action of ['ec2:CreateTags', 'autoscaling:CreateOrUpdateTags']) {
        const remediationTag = statementsOf(roleOf(instanceGuard)).find(
          (s) => actions(s).includes(action) && !s.Condition?.StringEquals?.['ec2:CreateAction'],
        );
        assert.deepEqual(remediationTag?.Condition?.['ForAllValues:StringEquals'], {
          'aws:TagKeys': ['chainlink:remediation'],
        }, `${action} writes only the remediation tag`);
      }
    });

    it('scopes every write of every function: never on `*`, and on the stack tag unless AWS offers no tag to check', () => {
      const stackConditioned = (s: Statement) =>
        Object.values(s.Condition ?? {}).some((c) =>
          Object.entries(c).some(([key, value]) => /[Rr]esourceTag\/chainlink:stack$/.test(key) && value === STACK),
        );
      // Writes with no stack-tag condition, each on exact resources of this deployment: a new
      // unconditioned write fails here until it is scoped or listed with its reason.
      const exactResourceOnly: Record<string, string> = {
        'sns:Publish': 'the report topic of this deployment',
        'sqs:SendMessage': "the functions' failure queue",
        'logs:CreateLogStream': "the function's own log group",
        'logs:PutLogEvents': "the function's own log group",
        'ssm:SendCommand': "the stack's filesystem document (its instance statement is tag-conditioned)",
        'ec2:RunInstances': "the launch check Auto Scaling makes (the template half is tag-conditioned, asserted above)",
        'ec2:CreateTags': 'tags at launch only, within RunInstances (asserted above)',
        'kms:Decrypt': 'the stack key, through the service that uses it',
        'kms:Encrypt': 'the stack key, through the service that uses it',
        'kms:GenerateDataKey': 'the stack key, through the service that uses it',
        'kms:GenerateDataKey*': 'the stack key, through the service that uses it',
        'iam:PassRole': 'the node role named at deploy time, to Auto Scaling only',
        'lambda:InvokeFunction': "approval-handler's: instance-guard and security-group-guard only, by their exact function ARNs (asserted below)",
        's3:PutObject': "the report pages' bucket of this deployment, under reports/ only (asserted below)",
      };
      // Every function of the deployment, approval-handler included when approvals are on.
      for (const [deployment, t, count] of [['defaults', template, 3], ['approvals', withApprovals(), 4],
        ['report pages', withReportPages(), 3], ['approvals and report pages', withReportPages(true), 4]] as const) {
        const grants = grantsOf(t);
        const fns = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function').map(([id]) => id);
        assert.equal(fns.length, count, deployment);
        let writes = 0;
        for (const fn of fns) {
          for (const s of grants.statementsOf(grants.roleOf(fn))) {
            for (const action of actions(s)) {
              const op = action.split(':')[1] ?? '';
              if (/^(Describe|Get|List)/.test(op)) continue;
              writes += 1;
              assert.ok(!resourcesOf(s).some((r) => r === '*'), `${deployment}, ${fn}: ${action} (${s.Sid}) is granted on *`);
              assert.ok(
                stackConditioned(s) || action in exactResourceOnly,
                `${deployment}, ${fn}: ${action} (${s.Sid}) has no stack-tag condition and no reason to go without one`,
              );
            }
          }
        }
        assert.ok(writes >= 15, `${deployment}: the writes were found (${writes})`);
      }
    });

    it('gives instance-guard no way to launch content of its choosing through a group', () => {
      const statements = [securityGroupGuard, parameterGuard, instanceGuard].flatMap((fn) => statementsOf(roleOf(fn)));
      for (const a of ['ec2:CreateLaunchTemplate', 'ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate',
        'autoscaling:CreateLaunchConfiguration', 'autoscaling:CreateAutoScalingGroup']) {
        assert.ok(!statements.some((st) => actions(st).includes(a)), `no function may ${a}`);
      }
      // The deploy-time parameter, however the template spells its reference.
      const isLadder = (v: Json | undefined) => JSON.stringify(v ?? null).includes('LadderInstanceTypes');
      const update = statementsOf(roleOf(instanceGuard)).filter((st) => actions(st).includes('autoscaling:UpdateAutoScalingGroup'));
      assert.equal(update.length, 1, 'one statement grants UpdateAutoScalingGroup');
      assert.deepEqual(actions(update[0]), ['autoscaling:UpdateAutoScalingGroup'], 'and nothing else');
      const types = update[0].Condition?.['ForAllValues:StringEquals'];
      assert.deepEqual(Object.keys(types ?? {}), ['autoscaling:InstanceTypes']);
      assert.ok(isLadder(types?.['autoscaling:InstanceTypes']), 'overrides of ladder types only');
      assert.deepEqual(update[0].Condition?.Null, {
        'autoscaling:MinSize': 'true',
        'autoscaling:MaxSize': 'true',
        'autoscaling:VPCZoneIdentifiers': 'true',
        'autoscaling:LaunchConfigurationName': 'true',
      });
      const launches = statementsOf(roleOf(instanceGuard)).filter((st) => actions(st).includes('ec2:RunInstances'));
      const on = (kind: string) => launches.filter((st) => resourcesOf(st).some((r) => JSON.stringify(r).includes(kind)));
      for (const st of on(':instance/')) {
        assert.ok(isLadder(st.Condition?.StringEquals?.['ec2:InstanceType']), `${st.Sid}: ladder types only`);
      }
      for (const st of on('image/')) {
        assert.equal(st.Condition?.Bool?.['ec2:IsLaunchTemplateResource'], 'true', `${st.Sid}: the template's image only`);
      }
      assert.ok(on(':instance/').length === 1 && on('image/').length === 1, 'instance and image statements found');
    });

    it('lets instance-guard change an instance type and no other attribute (no user data)', () => {
      const modify = statementsOf(roleOf(instanceGuard)).filter((s) => actions(s).includes('ec2:ModifyInstanceAttribute'));
      assert.equal(modify.length, 1, 'one statement grants ModifyInstanceAttribute');
      assert.deepEqual(actions(modify[0]), ['ec2:ModifyInstanceAttribute'], 'alone in its statement');
      assert.deepEqual(modify[0].Condition?.Null, { 'ec2:Attribute/InstanceType': 'false' });
    });

    it("writes security-group rules only in the stack's VPCs (ec2:Vpc from StackVpcIds)", () => {
      const writes = ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress'];
      const vpcPatterns = (t: Template) => {
        const { Resources } = t;
        const found: Json[] = [];
        const walk = (node: Json) => {
          if (Array.isArray(node)) node.forEach(walk);
          else if (isObject(node)) {
            const action = node.Action;
            const listed = Array.isArray(action) ? action : [action];
            if (node.Effect === 'Allow' && listed.some((a) => writes.includes(String(a)) || a === 'ec2:*' || a === '*')) {
              const condition = node.Condition as Record<string, Record<string, Json>> | undefined;
              found.push(condition?.ArnLike?.['ec2:Vpc'] ?? null);
            }
            Object.values(node).forEach(walk);
          }
        };
        walk(Resources as unknown as Json);
        return found;
      };
      const placeholder = vpcPatterns(template);
      assert.ok(placeholder.length >= 1, 'a statement grants the security-group writes');
      for (const patterns of placeholder) {
        assert.deepEqual(patterns, ['arn:*:ec2:*:*:vpc/<StackVpcIds>'], 'every grant of the writes names the stack VPCs');
      }
      const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Template;
      const deployed = resolveTemplate(raw, { StackVpcIds: 'vpc-0a1b2c3d,vpc-0e1f2a3b4c5d6e7f8' });
      for (const patterns of vpcPatterns(deployed)) {
        assert.deepEqual(patterns, ['arn:*:ec2:*:*:vpc/vpc-0a1b2c3d', 'arn:*:ec2:*:*:vpc/vpc-0e1f2a3b4c5d6e7f8']);
      }
      assert.equal(raw.Parameters?.StackVpcIds?.Type, 'CommaDelimitedList');
      assert.equal(raw.Parameters?.StackVpcIds?.Default, undefined, 'the VPCs are given at deploy time');
    });

    // ---- A port the node's configuration moves: parameter-guard repairs the stack's groups
    // as security-group-guard does, and security-group-guard reads the parameters it takes
    // ports from, never their secrets.
    const grantsAny = (s: Statement, wanted: string[]) =>
      actions(s).some((a) => wanted.some((w) => covers(a, w, true)));
    const ingressWrites = ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress'];

    it("lets parameter-guard write ingress rules only on the stack's groups, under security-group-guard's conditions", () => {
      const [repair, ...moreRepair] = statementsOf(roleOf(securityGroupGuard)).filter((s) => grantsAny(s, ingressWrites));
      const [move, ...moreMove] = statementsOf(roleOf(parameterGuard)).filter((s) => grantsAny(s, ingressWrites));
      assert.ok(repair && move, 'both functions may write ingress rules');
      assert.deepEqual([moreRepair.length, moreMove.length], [0, 0], 'one statement each grants them');
      for (const s of [repair, move]) {
        assert.deepEqual([...actions(s)].sort(), ingressWrites, `${s.Sid}: ingress writes alone`);
        assert.deepEqual(
          resourcesOf(s),
          ['arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*'],
          `${s.Sid}: security groups only`,
        );
      }
      assert.deepEqual(repair.Condition, {
        StringEquals: { 'aws:ResourceTag/chainlink:stack': STACK },
        ArnLike: { 'ec2:Vpc': ['arn:*:ec2:*:*:vpc/<StackVpcIds>'] },
      });
      assert.deepEqual(move, repair, 'the same statement in both roles, conditions included');
    });

    it('lets parameter-guard observe the network as security-group-guard does, and no load balancer', () => {
      const ec2Reads = (fn: string) =>
        statementsOf(roleOf(fn))
          .flatMap(actions)
          .filter((a) => /^ec2:(Describe|Get|List)/.test(a))
          .sort();
      assert.ok(ec2Reads(securityGroupGuard).length >= 5, 'the network reads were found');
      assert.deepEqual(ec2Reads(parameterGuard), ec2Reads(securityGroupGuard));
      const loadBalancers = (fn: string) =>
        statementsOf(roleOf(fn)).filter((s) => grantsAny(s, ['elasticloadbalancing:DescribeLoadBalancers']));
      assert.ok(loadBalancers(securityGroupGuard).length >= 1, 'security-group-guard reads load balancers');
      assert.deepEqual(
        statementsOf(roleOf(parameterGuard)).flatMap(actions).filter((a) => a === '*' || /^elasticloadbalancing:/i.test(a)),
        [],
        'parameter-guard has no load-balancer action',
      );
    });

    it("lets security-group-guard read the stack's parameters undecrypted, and write none", () => {
      const parameterArn = (name: string) => `arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${name}`;
      const parameterPath = `/chainlink/${STACK}`;
      const statements = statementsOf(roleOf(securityGroupGuard));
      // Any statement granting SSM actions on the path or a parameter below it.
      const onPath = statements.filter((s) =>
        actions(s).some((a) => /^ssm:/i.test(a) || covers(a, 'ssm:GetParameter', true))
        && resourcesOf(s).some((r) => [parameterPath, `${parameterPath}/database-url`].some((p) => covers(String(r), parameterArn(p)))),
      );
      assert.equal(onPath.length, 1, 'one statement reaches the parameter path');
      assert.deepEqual([...actions(onPath[0])].sort(), ['ssm:GetParameters', 'ssm:GetParametersByPath']);
      assert.deepEqual(resourcesOf(onPath[0]), [parameterArn(parameterPath), parameterArn(`${parameterPath}/*`)]);
      for (const action of ['ssm:GetParameterHistory', 'ssm:PutParameter', 'ssm:LabelParameterVersion',
        'ssm:UnlabelParameterVersion', 'ssm:DeleteParameter', 'ssm:DeleteParameters']) {
        assert.ok(!statements.some((s) => grantsAny(s, [action])), `security-group-guard may not ${action}`);
      }
    });

    it("lets instance-guard read the stack's parameters undecrypted with GetParametersByPath only, and write none", () => {
      // A DatabaseConnections alarm: the nodes' pools are read as stored and compared with the
      // database's limit.
      const parameterArn = (name: string) => `arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${name}`;
      const parameterPath = `/chainlink/${STACK}`;
      const statements = statementsOf(roleOf(instanceGuard));
      // Every SSM action it has that is not Run Command is this one read.
      const ssmStatements = statements.filter((s) =>
        actions(s).some((a) => a === '*' || (/^ssm:/i.test(a) && a !== 'ssm:SendCommand')));
      assert.equal(ssmStatements.length, 1, 'one statement grants SSM actions besides SendCommand');
      const [read] = ssmStatements;
      assert.equal(read.Sid, 'ReadThisStacksParametersUndecrypted');
      assert.deepEqual(actions(read), ['ssm:GetParametersByPath']);
      assert.deepEqual(resourcesOf(read), [parameterArn(parameterPath), parameterArn(`${parameterPath}/*`)]);
      assert.equal(read.Condition, undefined);
      // security-group-guard's statement, narrowed to GetParametersByPath.
      const [sgRead] = statementsOf(roleOf(securityGroupGuard)).filter((s) => s.Sid === 'ReadThisStacksParametersUndecrypted');
      assert.ok(sgRead, "security-group-guard's statement is found");
      assert.deepEqual({ ...read, Action: undefined }, { ...sgRead, Action: undefined }, 'the same statement but its actions');
      for (const action of ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParameterHistory', 'ssm:PutParameter',
        'ssm:LabelParameterVersion', 'ssm:UnlabelParameterVersion', 'ssm:DeleteParameter', 'ssm:DeleteParameters',
        'ssm:DescribeParameters']) {
        assert.ok(!statements.some((s) => grantsAny(s, [action])), `instance-guard may not ${action}`);
      }
      // A deployment's own path (the one parameter-guard validates) is what IAM enforces.
      const custom =
        name === 'cdk'
          ? resolveTemplate(cdkTemplateWith({ parameterPath: '/nodes/demo' }))
          : resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, { ParameterPath: '/nodes/demo' });
      const grants = grantsOf(custom);
      const customRead = grants.statementsOf(grants.roleOf(grants.fnByDescription('CloudWatch alarms')))
        .filter((s) => actions(s).some((a) => /^ssm:/i.test(a) && a !== 'ssm:SendCommand'));
      assert.equal(customRead.length, 1, 'one SSM read with a ParameterPath given');
      assert.deepEqual(actions(customRead[0]), ['ssm:GetParametersByPath']);
      assert.deepEqual(resourcesOf(customRead[0]), [parameterArn('/nodes/demo'), parameterArn('/nodes/demo/*')]);
    });

    // ---- The stack's database: parameter-guard reads it, instance-guard also remediates it.
    const rdsStatements = (t: Template = template) => {
      const grants = grantsOf(t);
      return ['security-group drift', 'node parameters', 'CloudWatch alarms'].flatMap((words) => {
        const fn = grants.fnByDescription(words);
        return grants.statementsOf(grants.roleOf(fn))
          .filter((s) => actions(s).some((a) => a === '*' || /^rds:/i.test(a)))
          .map((s) => ({ fn, s }));
      });
    };
    const generic = (r: Json) => String(r).replace(/<AWS::Partition>|<AWS::Region>|<AWS::AccountId>/g, 'x');
    const withParameters = (overrides: Record<string, string>) =>
      resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, overrides);

    it('lets parameter-guard and instance-guard read the databases and their parameter groups, with the same statement', () => {
      const reads = rdsStatements().filter(({ s }) => actions(s).includes('rds:DescribeDBParameters'));
      assert.deepEqual(reads.map(({ fn }) => fn).sort(), [instanceGuard, parameterGuard].sort());
      for (const { s } of reads) {
        assert.deepEqual([...actions(s)].sort(), ['rds:DescribeDBClusters', 'rds:DescribeDBInstances', 'rds:DescribeDBParameters']);
        assert.deepEqual(resourcesOf(s).map(generic).sort(), ['arn:x:rds:x:x:cluster:*', 'arn:x:rds:x:x:db:*', 'arn:x:rds:x:x:pg:*']);
        assert.equal(s.Condition, undefined);
      }
      assert.deepEqual(reads[0].s, reads[1].s, 'the same statement in both roles');
    });

    it('lets security-group-guard locate the database (its instances and clusters) and nothing else of RDS', () => {
      const located = rdsStatements().filter(({ fn }) => fn === securityGroupGuard);
      assert.equal(located.length, 1);
      const { s } = located[0];
      assert.equal(s.Sid, 'LocateTheStacksDatabase');
      assert.deepEqual([...actions(s)].sort(), ['rds:DescribeDBClusters', 'rds:DescribeDBInstances']);
      assert.deepEqual(resourcesOf(s).map(generic).sort(), ['arn:x:rds:x:x:cluster:*', 'arn:x:rds:x:x:db:*']);
      assert.equal(s.Condition, undefined);
    });

    it('grants exactly these RDS actions: reads to parameter-guard, reads, events and two writes to instance-guard', () => {
      const byFunction = (fn: string) =>
        rdsStatements().filter((x) => x.fn === fn).flatMap(({ s }) => actions(s)).sort();
      assert.deepEqual(byFunction(parameterGuard), ['rds:DescribeDBClusters', 'rds:DescribeDBInstances', 'rds:DescribeDBParameters']);
      assert.deepEqual(byFunction(instanceGuard), [
        'rds:AddTagsToResource', 'rds:DescribeDBClusters', 'rds:DescribeDBInstances', 'rds:DescribeDBParameters', 'rds:DescribeEvents',
        'rds:ModifyDBInstance',
      ]);
      // DescribeEvents supports no resource-level permissions: "*", alone in its statement.
      const events = rdsStatements().filter(({ s }) => actions(s).includes('rds:DescribeEvents'));
      assert.equal(events.length, 1);
      assert.deepEqual(actions(events[0].s), ['rds:DescribeEvents']);
      assert.deepEqual(resourcesOf(events[0].s), ['*']);
      const all = [securityGroupGuard, parameterGuard, instanceGuard].flatMap((fn) => statementsOf(roleOf(fn)));
      for (const action of ['rds:DeleteDBInstance', 'rds:RebootDBInstance', 'rds:CreateDBInstance',
        'rds:CreateDBInstanceReadReplica', 'rds:RestoreDBInstanceFromDBSnapshot', 'rds:StopDBInstance',
        'rds:RemoveTagsFromResource', 'rds:ModifyDBParameterGroup', 'rds:ResetDBParameterGroup',
        'rds:ModifyDBCluster', 'rds:DeleteDBSnapshot', 'rds:ModifyDBSnapshotAttribute']) {
        assert.ok(!all.some((s) => grantsAny(s, [action])), `no function may ${action}`);
      }
    });

    it("lets instance-guard modify only the stack's tagged DB instances, to a class of the ladder, within the storage cap", () => {
      const modifyStatements = (t: Template) =>
        rdsStatements(t).filter(({ s }) => grantsAny(s, ['rds:ModifyDBInstance']));
      const expected = (classes: string[], cap: string) => ({
        StringEquals: { 'aws:ResourceTag/chainlink:stack': STACK },
        StringEqualsIfExists: { 'rds:DatabaseClass': classes },
        NumericLessThanEqualsIfExists: { 'rds:StorageSize': cap },
      });
      const check = (t: Template, classes: string[], cap: string) => {
        const found = modifyStatements(t);
        assert.equal(found.length, 1, 'one statement grants ModifyDBInstance');
        const [{ fn, s }] = found;
        assert.equal(fn, instanceGuard, 'only instance-guard');
        assert.deepEqual(actions(s), ['rds:ModifyDBInstance'], 'alone in its statement');
        // db:* only: a request that also names a parameter, option or subnet group is denied.
        assert.deepEqual(resourcesOf(s).map(generic), ['arn:x:rds:x:x:db:*']);
        const condition = JSON.parse(JSON.stringify(s.Condition), (_k, v) => (typeof v === 'number' ? String(v) : v));
        assert.deepEqual(condition, expected(classes, cap));
      };
      // The defaults: the demo stack file's ladder, the engine's default storage_max_gib.
      check(template, ['db.m6i.large', 'db.m6i.xlarge', 'db.m6i.2xlarge'], '1000');
      const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Template;
      assert.equal(raw.Parameters?.DatabaseClasses?.Type, 'CommaDelimitedList');
      assert.equal(raw.Parameters?.DatabaseStorageMaxGiB?.Type, 'Number');
      // What a deployment gives is what IAM enforces.
      check(withParameters({ DatabaseClasses: 'db.r6g.large,db.r6g.xlarge', DatabaseStorageMaxGiB: '500' }),
        ['db.r6g.large', 'db.r6g.xlarge'], '500');
    });

    it('lets instance-guard tag the DB instance with chainlink:remediation only', () => {
      const tagging = rdsStatements().filter(({ s }) => grantsAny(s, ['rds:AddTagsToResource']));
      assert.equal(tagging.length, 1, 'one statement grants AddTagsToResource');
      const [{ fn, s }] = tagging;
      assert.equal(fn, instanceGuard);
      assert.deepEqual(actions(s), ['rds:AddTagsToResource'], 'alone in its statement');
      assert.deepEqual(resourcesOf(s).map(generic), ['arn:x:rds:x:x:db:*'], 'DB instances only');
      assert.deepEqual(s.Condition, {
        StringEquals: { 'aws:ResourceTag/chainlink:stack': STACK },
        // Neither chainlink:stack nor chainlink:role can be added or overwritten, and a request
        // without tag keys does not pass ForAllValues vacuously.
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['chainlink:remediation'] },
        Null: { 'aws:TagKeys': 'false' },
      });
    });

    it('creates the database alarms only with CreateAlarms and a DatabaseInstanceId', () => {
      const rdsAlarms = (t: Template) =>
        Object.values(t.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && props(r).Namespace === 'AWS/RDS');
      const variant = (createAlarms: boolean, databaseInstanceId: string) =>
        name === 'cdk'
          ? resolveTemplate(cdkTemplateWith({ createAlarms: String(createAlarms), databaseInstanceId }))
          : withParameters({ CreateAlarms: String(createAlarms), DatabaseInstanceId: databaseInstanceId });
      assert.equal(rdsAlarms(template).length, 0, 'none by default');
      assert.equal(rdsAlarms(variant(true, '')).length, 0, 'none without an instance id');
      assert.equal(rdsAlarms(variant(false, DB_INSTANCE)).length, 0, 'none without CreateAlarms');
      assert.equal(rdsAlarms(variant(true, DB_INSTANCE)).length, 4, 'four with both');
    });

    it("lets parameter-guard see that the stack's tagged secrets exist, and read none", () => {
      const all = [securityGroupGuard, parameterGuard, instanceGuard].flatMap((fn) =>
        statementsOf(roleOf(fn)).map((s) => ({ fn, s })));
      const secrets = all.filter(({ s }) => actions(s).some((a) => a === '*' || /^secretsmanager:/i.test(a)));
      assert.equal(secrets.length, 1, 'one statement names Secrets Manager');
      const [{ fn, s }] = secrets;
      assert.equal(fn, parameterGuard, 'only parameter-guard looks at secrets');
      assert.deepEqual(actions(s), ['secretsmanager:DescribeSecret']);
      assert.deepEqual(
        resourcesOf(s).map(String).map((r) => r.replace(/<AWS::Partition>|<AWS::Region>|<AWS::AccountId>/g, 'x')),
        ['arn:x:secretsmanager:x:x:secret:*'],
      );
      assert.deepEqual(s.Condition, { StringEquals: { 'aws:ResourceTag/chainlink:stack': STACK } });
      for (const action of ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue', 'secretsmanager:PutSecretValue']) {
        assert.ok(!all.some(({ s }) => grantsAny(s, [action])), `no function may ${action}`);
      }
    });

    it("imports findings into the account's own Security Hub product only when asked, never from instance-guard", () => {
      const withHub =
        name === 'cdk'
          ? resolveTemplate(cdkTemplateWith({ securityHubFindings: true }))
          : resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, { SecurityHubFindings: 'true' });
      for (const [deployment, t, expected] of [['off', template, false], ['on', withHub, true]] as const) {
        const grants = grantsOf(t);
        for (const words of ['security-group drift', 'node parameters', 'CloudWatch alarms']) {
          const fn = grants.fnByDescription(words);
          const statements = grants.statementsOf(grants.roleOf(fn))
            .filter((s) => actions(s).some((a) => a === '*' || /^securityhub:/i.test(a)));
          // instance-guard's reports carry no Security Hub finding: it gets no grant.
          assert.equal(statements.length, expected && fn !== instanceGuard ? 1 : 0, `${deployment}: ${fn}`);
          for (const s of statements) {
            assert.deepEqual(actions(s), ['securityhub:BatchImportFindings'], `${deployment}: ${fn}`);
            const [resource] = resourcesOf(s).map(String);
            assert.match(resource, /:securityhub:<AWS::Region>:<AWS::AccountId>:product\/<AWS::AccountId>\/default$/);
          }
          const env = ((t.Resources[fn].Properties?.Environment as Json) as { Variables?: Record<string, Json> })?.Variables ?? {};
          assert.equal('SECURITY_HUB_ACCOUNT_ID' in env, expected, `${deployment}: ${fn} SECURITY_HUB_ACCOUNT_ID`);
        }
      }
    });

    it('publishes to a chat topic only when one is given, and only to it', () => {
      const chat = 'arn:aws:sns:us-east-1:123456789012:ops-chatbot';
      const withChat =
        name === 'cdk'
          ? resolveTemplate(cdkTemplateWith({ chatTopicArn: chat }))
          : resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, { ChatTopicArn: chat });
      for (const [deployment, t, expected] of [['no chat topic', template, false], ['a chat topic', withChat, true]] as const) {
        const grants = grantsOf(t);
        for (const words of ['security-group drift', 'node parameters', 'CloudWatch alarms']) {
          const fn = grants.fnByDescription(words);
          const publishesToChat = grants.statementsOf(grants.roleOf(fn))
            .filter((s) => grantsAny(s, ['sns:Publish']))
            .some((s) => resourcesOf(s).map(String).includes(chat));
          assert.equal(publishesToChat, expected, `${deployment}: ${fn}`);
          const env = ((t.Resources[fn].Properties?.Environment as Json) as { Variables?: Record<string, Json> })?.Variables ?? {};
          assert.equal(env.CHAT_TOPIC_ARN === chat, expected, `${deployment}: ${fn} CHAT_TOPIC_ARN`);
        }
      }
    });

    it('gives security-group-guard and instance-guard no kms:Decrypt that reaches Parameter Store, whatever the keys', () => {
      // The deployment where it matters most: an existing topic whose key is also the
      // SecureStrings' key.
      const key = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
      const topic = 'arn:aws:sns:us-east-1:123456789012:ops-reports';
      const sharedKey =
        name === 'cdk'
          ? resolveTemplate(cdkTemplateWith({ notificationTopicArn: topic, notificationTopicKmsKeyArn: key, ssmKmsKeyArn: key }))
          : resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, {
            NotificationTopicArn: topic, NotificationTopicKmsKeyArn: key, SsmKmsKeyArn: key,
          });
      for (const [deployment, t] of [['a created topic', template], ['a shared key', sharedKey]] as const) {
        const grants = grantsOf(t);
        for (const words of ['security-group drift', 'CloudWatch alarms']) {
          const statements = grants.statementsOf(grants.roleOf(grants.fnByDescription(words)));
          const decrypt = statements.filter((s) => grantsAny(s, ['kms:Decrypt']));
          assert.ok(decrypt.length >= 1, `${deployment}, ${words}: the report topic's key is found`);
          for (const s of decrypt) {
            assert.deepEqual(
              s.Condition?.StringEquals?.['kms:ViaService'],
              'sns.<AWS::Region>.amazonaws.com',
              `${deployment}, ${words}: ${s.Sid} decrypts through SNS only`,
            );
          }
          // Whatever else names KMS: the report topic's statement is the only one (what every
          // function has to publish); none through Parameter Store, none on every key.
          const kms = statements.filter((s) => actions(s).some((a) => a === '*' || /^kms:/i.test(a)));
          assert.deepEqual(kms.map((s) => s.Sid), ['EncryptReportsThroughSns'], `${deployment}, ${words}`);
          assert.deepEqual([...actions(kms[0])].sort(), ['kms:Decrypt', 'kms:GenerateDataKey*'], `${deployment}, ${words}`);
          assert.ok(!JSON.stringify(statements).includes('ssm.<AWS::Region>.amazonaws.com'), `${deployment}, ${words}: no kms:ViaService ssm`);
        }
      }
    });

    it("sends Run Commands with the stack's filesystem document only, to the stack's instances only", () => {
      const documents = ofType('AWS::SSM::Document');
      assert.equal(documents.length, 1, 'one SSM document: the filesystem document');
      const [documentId] = documents[0];
      // SAM's !Sub keeps ${Id}; the CDK's Fn::Join reads as {"Ref":"Id"} (test/resolve.ts).
      const namesDocument = (r: Json) =>
        String(r).endsWith(`:document/\${${documentId}}`) || String(r).endsWith(`:document/{"Ref":"${documentId}"}`);
      const sendCommand = [securityGroupGuard, parameterGuard, instanceGuard].flatMap((fn) =>
        statementsOf(roleOf(fn))
          .filter((s) => actions(s).some((a) => a === 'ssm:SendCommand' || a === 'ssm:*' || a === '*'))
          .map((s) => ({ fn, s })),
      );
      assert.ok(sendCommand.length >= 2, 'SendCommand statements were found');
      let onDocument = 0;
      let onInstances = 0;
      for (const { fn, s } of sendCommand) {
        assert.equal(fn, instanceGuard, `only instance-guard may SendCommand (${s.Sid})`);
        assert.deepEqual(actions(s), ['ssm:SendCommand'], `${s.Sid}: SendCommand alone`);
        for (const r of resourcesOf(s)) {
          const text = String(r);
          assert.doesNotMatch(text, /AWS-RunShellScript|document\/\*|^\*$/, `${s.Sid}: never ${text}`);
          if (text.includes(':document/')) {
            assert.ok(namesDocument(r), `${s.Sid}: ${text} is the stack's document`);
            // The document statement names one exact ARN; a tag condition here would be one
            // more thing to get wrong, and none is needed.
            assert.equal(s.Condition, undefined, `${s.Sid}: the document ARN is exact`);
            onDocument += 1;
          } else {
            assert.match(text, /:ec2:<AWS::Region>:<AWS::AccountId>:instance\/\*$/, `${s.Sid}: ${text}`);
            assert.deepEqual(s.Condition, { StringEquals: { 'ssm:resourceTag/chainlink:stack': STACK } }, s.Sid);
            onInstances += 1;
          }
        }
      }
      assert.deepEqual([onDocument, onInstances], [1, 1], 'one document ARN, one instance ARN');
      const env = (props(template.Resources[instanceGuard]).Environment as { Variables: Record<string, Json> }).Variables;
      assert.deepEqual(env.FILESYSTEM_DOCUMENT, { Ref: documentId }, 'instance-guard is told the document');
      for (const fn of [securityGroupGuard, parameterGuard]) {
        const other = (props(template.Resources[fn]).Environment as { Variables: Record<string, Json> }).Variables;
        assert.equal(other.FILESYSTEM_DOCUMENT, undefined, fn);
      }
    });

    it("ships the filesystem document: one parameter, the engine's mount-path rule, the same in both templates", () => {
      const [[, document]] = ofType('AWS::SSM::Document');
      const p = props(document);
      assert.equal(p.DocumentType, 'Command');
      assert.equal(p.TargetType, '/AWS::EC2::Instance');
      assert.equal(tags(document)['chainlink:stack'], STACK);
      const content = p.Content as Record<string, Json>;
      assert.equal(content.schemaVersion, '2.2');
      const parameters = content.parameters as Record<string, Record<string, Json>>;
      assert.deepEqual(Object.keys(parameters), ['mountPath'], 'one parameter: the mount path');
      const { pattern, maxChars } = engineMountPathRule();
      assert.equal(parameters.mountPath.allowedPattern, pattern, "allowedPattern is the engine's MOUNT_PATH_PATTERN");
      assert.equal(parameters.mountPath.maxChars, maxChars, "maxChars is the engine's MOUNT_PATH_MAX_CHARS");
      assert.equal(parameters.mountPath.interpolationType, 'ENV_VAR', 'the path is never spliced into the script');
      const steps = content.mainSteps as Array<Record<string, Json>>;
      assert.deepEqual(steps.map((s) => s.action), ['aws:runShellScript']);
      const script = ((steps[0].inputs as Record<string, Json>).runCommand as string[]).join('\n');
      assert.doesNotMatch(script, /\{\{/, 'no {{ }} interpolation: the path arrives as SSM_mountPath');
      assert.match(script, /growpart/);
      assert.match(script, /xfs_growfs/);
      assert.match(script, /resize2fs/);
      // The same pattern in JavaScript's dialect agrees with the engine's cases.
      const accepts = (path: string) => new RegExp(pattern).test(path) && path.length <= maxChars;
      for (const ok of ['/', '/data', '/var/lib/postgresql-data_1', '/a.b/c.d', '/.hidden']) {
        assert.ok(accepts(ok), ok);
      }
      for (const bad of ['', 'data', '/a b', "/data'; rm -rf /", '/data/../etc', '/..', '/$(reboot)', '/a\nb', `/${'a'.repeat(maxChars)}`]) {
        assert.ok(!accepts(bad), JSON.stringify(bad));
      }
      assert.deepEqual(content, FILESYSTEM_DOCUMENT_CONTENT, 'the same document as the CDK app ships');
    });

    it('gives each function exactly the writes of its capability', () => {
      const writes = (fn: string) =>
        new Set(
          statementsOf(roleOf(fn))
            .flatMap(actions)
            .filter((a) => !/:(Describe|Get|List)/.test(a) && !a.startsWith('logs:') && !a.startsWith('kms:')),
        );
      assert.deepEqual(
        [...writes(securityGroupGuard)].sort(),
        ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress', 'sns:Publish', 'sqs:SendMessage'],
      );
      // The ingress writes move a rule when the node's configuration moves a port.
      assert.deepEqual(
        [...writes(parameterGuard)].sort(),
        ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress', 'sns:Publish', 'sqs:SendMessage',
          'ssm:LabelParameterVersion', 'ssm:PutParameter'],
      );
      for (const a of ['ec2:StopInstances', 'ec2:StartInstances', 'ec2:ModifyInstanceAttribute', 'ec2:ModifyVolume',
        'autoscaling:UpdateAutoScalingGroup', 'autoscaling:StartInstanceRefresh',
        'autoscaling:SetInstanceHealth', 'autoscaling:CreateOrUpdateTags', 'ssm:SendCommand',
        'rds:ModifyDBInstance', 'rds:AddTagsToResource']) {
        assert.ok(writes(instanceGuard).has(a), `instance-guard may ${a}`);
      }
      // It re-reads alarms and their metric, and can neither create nor set one.
      assert.deepEqual([...writes(instanceGuard)].filter((a) => a.startsWith('cloudwatch:')), []);
      // With approvals: approval-handler's one write is invoking the function an approval
      // belongs to (it publishes no report and has no failure queue); security-group-guard gains
      // one, the chainlink:approval tag on the stack's groups (asserted in "approvals" below);
      // parameter-guard and instance-guard gain none (instance-guard, only the key's read).
      const approvals = withApprovals();
      const grants = grantsOf(approvals);
      const writesThere = (fn: string) =>
        new Set(
          grants.statementsOf(grants.roleOf(fn))
            .flatMap(actions)
            .filter((a) => !/:(Describe|Get|List)/.test(a) && !a.startsWith('logs:') && !a.startsWith('kms:')),
        );
      assert.deepEqual([...writesThere(grants.fnByDescription('approve or deny link'))], ['lambda:InvokeFunction']);
      for (const [words, fn, gained] of [['security-group drift', securityGroupGuard, ['ec2:CreateTags']],
        ['node parameters', parameterGuard, []], ['CloudWatch alarms', instanceGuard, []]] as const) {
        assert.deepEqual([...writesThere(grants.fnByDescription(words))].sort(), [...writes(fn), ...gained].sort(),
          `${fn} with approvals`);
      }
      // With report pages (and approvals): each of the three gains s3:PutObject and nothing
      // else but, with approvals, security-group-guard's approval tag; approval-handler still
      // only invokes the two guards.
      for (const approvals of [false, true]) {
        const pages = grantsOf(withReportPages(approvals));
        const writesWithPages = (fn: string) =>
          new Set(
            pages.statementsOf(pages.roleOf(fn))
              .flatMap(actions)
              .filter((a) => !/:(Describe|Get|List)/.test(a) && !a.startsWith('logs:') && !a.startsWith('kms:')),
          );
        for (const [words, fn] of [['security-group drift', securityGroupGuard], ['node parameters', parameterGuard],
          ['CloudWatch alarms', instanceGuard]] as const) {
          const approvalTag = approvals && fn === securityGroupGuard ? ['ec2:CreateTags'] : [];
          assert.deepEqual([...writesWithPages(pages.fnByDescription(words))].sort(),
            [...writes(fn), 's3:PutObject', ...approvalTag].sort(), `${fn} with report pages${approvals ? ' and approvals' : ''}`);
        }
        if (approvals) {
          assert.deepEqual([...writesWithPages(pages.fnByDescription('approve or deny link'))], ['lambda:InvokeFunction'],
            'approval-handler with report pages');
        }
      }
    });

    it('sends failed invocations to an encrypted queue, alarmed, after two retries', () => {
      const queues = ofType('AWS::SQS::Queue');
      assert.equal(queues.length, 1);
      const [queueId, queue] = queues[0];
      assert.ok(props(queue).KmsMasterKeyId || props(queue).SqsManagedSseEnabled, 'queue encrypted');
      const configs = ofType('AWS::Lambda::EventInvokeConfig');
      assert.equal(configs.length, 3);
      for (const [id, c] of configs) {
        const p = props(c);
        assert.equal(p.MaximumRetryAttempts, 2, id);
        assert.ok(Number(p.MaximumEventAgeInSeconds) >= 1800, id);
        assert.deepEqual(p.DestinationConfig, { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } }, id);
      }
      for (const fn of [securityGroupGuard, parameterGuard, instanceGuard]) {
        assert.ok(
          statementsOf(roleOf(fn)).some((s) => actions(s).includes('sqs:SendMessage')
            && JSON.stringify(s.Resource).includes(queueId)),
          `${fn} may send to the failure queue`,
        );
      }
      const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => props(a));
      const dlq = alarms.find((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
      assert.ok(dlq, 'an alarm on the failure queue');
      assert.equal(dlq.Threshold, 0);
      assert.equal(dlq.ComparisonOperator, 'GreaterThanThreshold');
      assert.ok(JSON.stringify(dlq.Dimensions).includes(queueId));
      const failed = alarms.find((a) => a.MetricName === 'ActionsFailed');
      assert.ok(failed, 'an alarm on ActionsFailed');
      assert.equal(failed.Namespace, 'ChainlinkRemediator');
      assert.deepEqual(failed.Dimensions, [{ Name: 'Stack', Value: STACK }]);
      assert.equal(failed.Threshold, 0);
      assert.equal(failed.ComparisonOperator, 'GreaterThanThreshold');
      for (const a of [dlq, failed]) {
        assert.match(String(a.AlarmName), / /, 'own alarm names never match the "<stack>-" filter');
        assert.deepEqual(a.AlarmActions, [{ Ref: topicId() }]);
      }
    });

    const topicId = () => {
      const topics = ofType('AWS::SNS::Topic');
      assert.equal(topics.length, 1);
      return topics[0][0];
    };

    it('publishes reports to a KMS-encrypted topic the functions may publish to', () => {
      const topic = template.Resources[topicId()];
      assert.ok(props(topic).KmsMasterKeyId, 'topic encrypted');
      for (const fn of [securityGroupGuard, parameterGuard, instanceGuard]) {
        const env = (props(template.Resources[fn]).Environment as { Variables: Record<string, Json> }).Variables;
        assert.deepEqual(env.REPORT_TOPIC_ARN, { Ref: topicId() });
        assert.ok(
          statementsOf(roleOf(fn)).some((s) => actions(s).includes('sns:Publish')
            && JSON.stringify(s.Resource) === JSON.stringify({ Ref: topicId() })),
          `${fn} may publish reports`,
        );
      }
    });

    it('creates no instance alarms unless asked to', () => {
      const names = ofType('AWS::CloudWatch::Alarm').map(([, a]) => String(props(a).AlarmName));
      assert.equal(names.filter((n) => n.startsWith(`${STACK}-`)).length, 0);
    });

    it('shows every remediator metric of the stack on a dashboard', () => {
      const dashboards = ofType('AWS::CloudWatch::Dashboard');
      assert.equal(dashboards.length, 1);
      const body = JSON.stringify(props(dashboards[0][1]).DashboardBody).replace(/\s+/g, '');
      for (const metric of ['DriftFound', 'ActionsPlanned', 'ActionsApplied', 'ActionsFailed', 'ActionsSkipped',
        'RemediationsRefused', 'ParameterFindingsCritical', 'ParameterFindingsError', 'ParameterFindingsWarning',
        'ParameterFindingsInfo', 'ColdStart']) {
        assert.ok(body.includes(`\\"${metric}\\"`), `dashboard shows ${metric}`);
      }
      assert.ok(body.includes('ChainlinkRemediator') && body.includes(`\\"Stack\\",\\"${STACK}\\"`));
    });

    it('tags what it creates with the stack', () => {
      for (const type of ['AWS::SQS::Queue', 'AWS::SNS::Topic', 'AWS::Logs::LogGroup', 'AWS::IAM::Role', 'AWS::KMS::Key']) {
        for (const [id, r] of ofType(type)) {
          assert.equal(tags(r)['chainlink:stack'], STACK, `${id} tagged`);
        }
      }
      for (const [id, g] of ofType('AWS::Logs::LogGroup')) {
        assert.ok(props(g).RetentionInDays, `${id} has a retention`);
      }
    });
  });
}

// ---- The other settings: alarms on, stack file in Parameter Store ---------------------------

const INSTANCE = 'i-0123456789abcdef0';
const GROUP = 'demo-nodes';
const DB_INSTANCE = 'demo-db';

function cdkTemplateWith(context: Record<string, unknown>, stackId = 'Variant'): Template {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-test-'));
  try {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context }, outdir });
    const settings = settingsFromContext(app.node, CDK_DIR);
    const stack = new RemediatorStack(app, stackId, {
      settings,
      workspaceDir: path.resolve(CDK_DIR, '..', '..'),
    });
    // As bin/app.ts tags every taggable resource.
    Tags.of(app).add('chainlink:stack', settings.stackName);
    Tags.of(app).add('chainlink:role', 'remediator');
    return app.synth().getStackByName(stack.stackName).template as Template;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

const variants: Array<[string, () => Template]> = [
  [
    'cdk',
    () =>
      cdkTemplateWith({
        createAlarms: 'true',
        autoScalingGroupName: GROUP,
        nodeInstanceIds: INSTANCE,
        databaseInstanceId: DB_INSTANCE,
        stackFileSource: 'ssm',
      }),
  ],
];
if (process.env.SAM_TRANSFORMED_TEMPLATE) {
  const file = process.env.SAM_TRANSFORMED_TEMPLATE;
  variants.push([
    'sam',
    () =>
      resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, {
        CreateAlarms: 'true',
        AutoScalingGroupName: GROUP,
        NodeInstanceId: INSTANCE,
        DatabaseInstanceId: DB_INSTANCE,
        StackFileSource: 'ssm',
      }),
  ]);
}

for (const [name, load] of variants) {
  describe(`${name} template with alarms on and the stack file in Parameter Store`, () => {
    const template = name === 'cdk' ? resolveTemplate(load()) : load();
    const resources = Object.values(template.Resources);
    const props = (r: Resource) => r.Properties ?? {};

    it('alarms on CPU, memory, disk and status checks of the group and of the instance', () => {
      const alarms = resources
        .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
        .map(props)
        .filter((a) => String(a.AlarmName).startsWith(`${STACK}-`) && a.Namespace !== 'AWS/RDS');
      const byName = Object.fromEntries(alarms.map((a) => [String(a.AlarmName), a]));
      assert.deepEqual(Object.keys(byName).sort(), [
        'demo-node-cpu', `demo-node-cpu-${INSTANCE}`, 'demo-node-disk', `demo-node-disk-${INSTANCE}`,
        'demo-node-memory', `demo-node-memory-${INSTANCE}`, 'demo-node-status', `demo-node-status-${INSTANCE}`,
      ]);
      const expected: Record<string, [string, string, number, number, number, string]> = {
        cpu: ['AWS/EC2', 'CPUUtilization', 85, 300, 3, 'GreaterThanThreshold'],
        memory: ['CWAgent', 'mem_used_percent', 90, 300, 3, 'GreaterThanThreshold'],
        disk: ['CWAgent', 'disk_used_percent', 85, 300, 1, 'GreaterThanThreshold'],
        status: ['AWS/EC2', 'StatusCheckFailed', 1, 60, 2, 'GreaterThanOrEqualToThreshold'],
      };
      for (const [alarmName, a] of Object.entries(byName)) {
        const what = alarmName.split('-')[2];
        const [namespace, metric, threshold, period, periods, operator] = expected[what];
        assert.deepEqual(
          [a.Namespace, a.MetricName, a.Threshold, a.Period, a.EvaluationPeriods, a.ComparisonOperator],
          [namespace, metric, threshold, period, periods, operator],
          alarmName,
        );
        assert.equal(a.TreatMissingData, 'notBreaching', alarmName);
        // instance-guard acts only on alarms carrying the stack tag (it re-reads them).
        const alarmTags = Object.fromEntries(
          ((a.Tags ?? []) as Array<{ Key: string; Value: string }>).map((t) => [t.Key, t.Value]),
        );
        assert.equal(alarmTags['chainlink:stack'], STACK, `${alarmName} tagged into the stack`);
        assert.equal(a.AlarmActions, undefined, `${alarmName}: the EventBridge rule is the wiring`);
        const dims = Object.fromEntries(
          (a.Dimensions as Array<{ Name: string; Value: string }>).map((d) => [d.Name, d.Value]),
        );
        const target = alarmName.endsWith(INSTANCE) ? { InstanceId: INSTANCE } : { AutoScalingGroupName: GROUP };
        assert.deepEqual(dims, what === 'disk' ? { ...target, path: '/' } : target, alarmName);
      }
    });

    it("alarms on the database's free storage, CPU, freeable memory and connections, tagged, through the rule", () => {
      const alarms = resources
        .filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && props(r).Namespace === 'AWS/RDS')
        .map(props);
      const byName = Object.fromEntries(alarms.map((a) => [String(a.AlarmName), a]));
      assert.deepEqual(Object.keys(byName).sort(), ['demo-db-connections', 'demo-db-cpu', 'demo-db-free-storage', 'demo-db-memory']);
      const expected: Record<string, [string, string, number, number, number, string]> = {
        'free-storage': ['FreeStorageSpace', 'Minimum', 10737418240, 300, 1, 'LessThanThreshold'],
        cpu: ['CPUUtilization', 'Average', 80, 300, 3, 'GreaterThanThreshold'],
        memory: ['FreeableMemory', 'Average', 268435456, 300, 3, 'LessThanThreshold'],
        connections: ['DatabaseConnections', 'Maximum', 80, 300, 2, 'GreaterThanThreshold'],
      };
      for (const [alarmName, a] of Object.entries(byName)) {
        const what = alarmName.slice(`${STACK}-db-`.length);
        assert.deepEqual(
          [a.MetricName, a.Statistic, a.Threshold, a.Period, a.EvaluationPeriods, a.ComparisonOperator],
          expected[what],
          alarmName,
        );
        assert.deepEqual(a.Dimensions, [{ Name: 'DBInstanceIdentifier', Value: DB_INSTANCE }], alarmName);
        assert.equal(a.TreatMissingData, 'notBreaching', alarmName);
        const alarmTags = Object.fromEntries(
          ((a.Tags ?? []) as Array<{ Key: string; Value: string }>).map((t) => [t.Key, t.Value]),
        );
        assert.equal(alarmTags['chainlink:stack'], STACK, `${alarmName} tagged into the stack`);
        assert.equal(alarmTags['chainlink:role'], 'db', alarmName);
        assert.equal(a.AlarmActions, undefined, `${alarmName}: the EventBridge rule is the wiring`);
      }
      // The rule that takes the node's alarms to instance-guard matches these names too.
      const rule = resources.find((r) => r.Type === 'AWS::Events::Rule'
        && JSON.stringify(props(r).EventPattern ?? '').includes('CloudWatch Alarm State Change'));
      assert.ok(rule);
      const prefix = ((props(rule).EventPattern as { detail: { alarmName: Array<{ prefix: string }> } }).detail.alarmName)[0].prefix;
      for (const alarmName of Object.keys(byName)) assert.ok(alarmName.startsWith(prefix), alarmName);
    });

    it('reads the stack file from exactly its parameter', () => {
      const parameterArn = `arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/chainlink-remediator/${STACK}/stack.toml`;
      const functions = resources.filter((r) => r.Type === 'AWS::Lambda::Function');
      assert.equal(functions.length, 3);
      for (const fn of functions) {
        const env = (props(fn).Environment as { Variables: Record<string, Json> }).Variables;
        assert.equal(env.STACK_FILE_PARAMETER, `/chainlink-remediator/${STACK}/stack.toml`);
        assert.equal(env.STACK_FILE, undefined);
        assert.equal(props(fn).Layers, undefined, 'no stack-file layer');
      }
      // Every statement with that Sid, wherever the template keeps its policies.
      const found: Json[] = [];
      const walk = (node: Json): void => {
        if (Array.isArray(node)) node.forEach(walk);
        else if (isObject(node)) {
          if (node.Sid === 'ReadStackFileParameter') found.push(node);
          else Object.values(node).forEach(walk);
        }
      };
      walk(resources as unknown as Json);
      assert.ok(found.length >= 1, 'a ReadStackFileParameter statement');
      for (const statement of found) {
        assert.ok(isObject(statement));
        assert.equal(statement.Effect, 'Allow');
        assert.deepEqual([statement.Action].flat(), ['ssm:GetParameter']);
        assert.deepEqual([statement.Resource].flat(), [parameterArn]);
      }
    });
  });
}

// ---- Approvals: approval-handler behind a public function URL ------------------------------

const SSM_KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const templateFiles: Record<string, string> = { cdk: CDK_TEMPLATE };
if (process.env.SAM_TRANSFORMED_TEMPLATE) templateFiles.sam = process.env.SAM_TRANSFORMED_TEMPLATE;

for (const [name, file] of Object.entries(templateFiles)) {
  describe(`${name} template: approvals (approval-handler)`, () => {
    const raw = () => JSON.parse(fs.readFileSync(file, 'utf8')) as Template;
    /** The deployment with these CDK context values, or these SAM parameters. */
    const deployed = (cdk: Record<string, unknown>, sam: Record<string, string>): Template =>
      name === 'cdk' ? resolveTemplate(cdkTemplateWith(cdk)) : resolveTemplate(raw(), sam);
    const off = resolveTemplate(raw());
    const on = deployed({ approvalKeyParameter: APPROVAL_KEY }, { ApprovalKeyParameter: APPROVAL_KEY });
    const props = (r: Resource) => r.Properties ?? {};
    const ofType = (t: Template, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
    const env = (t: Template, fn: string) =>
      ((props(t.Resources[fn]).Environment as Json) as { Variables?: Record<string, Json> } | undefined)?.Variables ?? {};
    const actions = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);
    const resourcesOf = (st: Statement) => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]);
    const HANDLER = 'approve or deny link';

    /**
     * approval-handler, the two functions it hands approvals to (instance-guard, security-group-guard)
     * and what their roles are granted, in a deployment with approvals.
     */
    const approvalsOf = (t: Template) => {
      const grants = grantsOf(t);
      const handler = grants.fnByDescription(HANDLER);
      const instanceGuard = grants.fnByDescription('CloudWatch alarms');
      const securityGroupGuard = grants.fnByDescription('security-group drift');
      const instanceGuardName = props(t.Resources[instanceGuard]).FunctionName;
      const securityGroupGuardName = props(t.Resources[securityGroupGuard]).FunctionName;
      assert.equal(typeof instanceGuardName, 'string', 'instance-guard is named');
      assert.equal(typeof securityGroupGuardName, 'string', 'security-group-guard is named');
      return {
        grants,
        handler,
        instanceGuard,
        securityGroupGuard,
        instanceGuardName: String(instanceGuardName),
        securityGroupGuardName: String(securityGroupGuardName),
        handlerStatements: grants.statementsOf(grants.roleOf(handler)),
        instanceStatements: grants.statementsOf(grants.roleOf(instanceGuard)),
        securityGroupStatements: grants.statementsOf(grants.roleOf(securityGroupGuard)),
      };
    };
    /** The one statement a role has granting `action`, alone in it. */
    const only = (statements: Statement[], action: string): Statement => {
      const found = statements.filter((st) => actions(st).some((a) => covers(a, action, true)));
      assert.equal(found.length, 1, `one statement grants ${action}`);
      assert.deepEqual(actions(found[0]), [action], `${action} alone in its statement`);
      return found[0];
    };
    const decryptsOnlyTheKey = (st: Statement, key: 'managed' | 'given') => {
      assert.equal(st.Sid, 'DecryptApprovalKeyOnly');
      assert.deepEqual(actions(st), ['kms:Decrypt']);
      assert.deepEqual(st.Condition?.StringEquals, {
        'kms:ViaService': 'ssm.<AWS::Region>.amazonaws.com',
        // Parameter Store's encryption context names the parameter: no other value decrypts.
        'kms:EncryptionContext:PARAMETER_ARN': APPROVAL_KEY_ARN,
      });
      if (key === 'managed') {
        assert.deepEqual(resourcesOf(st), ['arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*']);
        assert.deepEqual(st.Condition?.['ForAnyValue:StringEquals'], { 'kms:ResourceAliases': 'alias/aws/ssm' });
      } else {
        assert.deepEqual(resourcesOf(st), [SSM_KEY]);
        assert.equal(st.Condition?.['ForAnyValue:StringEquals'], undefined);
      }
    };

    it('deploys nothing of approvals without an approval key parameter', () => {
      assert.equal(ofType(off, 'AWS::Lambda::Function').length, 3);
      assert.deepEqual(ofType(off, 'AWS::Lambda::Url'), []);
      for (const [id, perm] of ofType(off, 'AWS::Lambda::Permission')) {
        assert.equal(props(perm).Principal, 'events.amazonaws.com', id);
      }
      const grants = grantsOf(off);
      for (const words of ['security-group drift', 'node parameters', 'CloudWatch alarms']) {
        const fn = grants.fnByDescription(words);
        assert.equal(props(off.Resources[fn]).FunctionName, undefined, `${fn}: CloudFormation names it`);
        assert.equal('APPROVAL_URL' in env(off, fn), false, fn);
        const statements = grants.statementsOf(grants.roleOf(fn));
        assert.deepEqual(statements.filter((st) => /Approval/.test(st.Sid ?? '')), [], fn);
        assert.ok(!statements.some((st) => actions(st).some((a) => /^lambda:/i.test(a))), `${fn}: no Lambda action`);
        assert.ok(!JSON.stringify(statements).includes('approval-key'), fn);
      }
      assert.ok(!Object.values(off.Resources).some((r) => JSON.stringify(r).includes('approval-handler')));
      assert.equal(off.Outputs?.ApprovalUrl, undefined);
      if (name === 'sam') {
        const parameter = raw().Parameters?.ApprovalKeyParameter;
        assert.equal(parameter?.Default, '', 'approvals are off by default');
      }
    });

    it('runs approval-handler like the others, with its own log group, briefly, a few at a time', () => {
      const { handler, instanceGuard, instanceGuardName, securityGroupGuardName } = approvalsOf(on);
      assert.equal(ofType(on, 'AWS::Lambda::Function').length, 4);
      const p = props(on.Resources[handler]);
      assert.deepEqual(p.Architectures, ['arm64']);
      assert.equal(p.Runtime, 'provided.al2023');
      assert.equal(p.Handler, 'bootstrap');
      assert.equal(p.MemorySize, 256);
      assert.equal(p.Timeout, 10);
      // The URL is public: a flood of requests costs at most five at a time.
      assert.equal(p.ReservedConcurrentExecutions, 5);
      const logging = p.LoggingConfig as Record<string, Json>;
      assert.deepEqual({ ...logging, LogGroup: undefined },
        { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'WARN', LogGroup: undefined });
      const [[logsId, logGroup]] = ofType(on, 'AWS::Logs::LogGroup').filter(([, g]) =>
        props(g).LogGroupName === `/chainlink-remediator/${STACK}/approval-handler`);
      assert.deepEqual(logging.LogGroup, { Ref: logsId }, 'its own log group');
      assert.ok(props(logGroup).RetentionInDays, 'with a retention');
      // Invoked synchronously through its URL: no asynchronous configuration of its own.
      for (const [id, c] of ofType(on, 'AWS::Lambda::EventInvokeConfig')) {
        assert.ok(!JSON.stringify(props(c).FunctionName).includes(handler), id);
      }
      // Exactly what the handler reads: the stack file as the others get it, the two functions
      // an approval can belong to, the key.
      assert.deepEqual(env(on, handler), {
        STACK_FILE: env(on, instanceGuard).STACK_FILE,
        APPROVAL_TARGET_FUNCTION: instanceGuardName,
        APPROVAL_SECURITY_GROUP_FUNCTION: securityGroupGuardName,
        APPROVAL_KEY_PARAMETER: APPROVAL_KEY,
      });
      assert.match(String(env(on, handler).STACK_FILE), /stack\.toml$/);
      assert.deepEqual(props(on.Resources[handler]).Layers, props(on.Resources[instanceGuard]).Layers, 'the same stack-file layer (SAM)');
      // The names both sides build, without referring to each other (no dependency cycle):
      // within Lambda's 64 characters for a CloudFormation stack name of 43 (the documented limit).
      assert.match(instanceGuardName, /-instance-guard$/);
      assert.match(securityGroupGuardName, /-security-group-guard$/);
      assert.equal(securityGroupGuardName.replace(/-security-group-guard$/, ''), instanceGuardName.replace(/-instance-guard$/, ''),
        'both from the stack\'s name');
      for (const fnName of [instanceGuardName, securityGroupGuardName]) {
        assert.ok(fnName.replace(/^.*(?=-(instance|security-group)-guard$)/, 'x'.repeat(43)).length <= 64, fnName);
      }
      assert.equal(securityGroupGuardName.replace(/^.*(?=-security-group-guard$)/, 'x'.repeat(44)).length, 65,
        'a stack name of 44 would be too long');
    });

    it('serves approval-handler on a public function URL (AuthType NONE), and gives instance-guard and security-group-guard that URL', () => {
      const { handler, instanceGuard, securityGroupGuard, grants } = approvalsOf(on);
      const urls = ofType(on, 'AWS::Lambda::Url');
      assert.equal(urls.length, 1);
      const [urlId, url] = urls[0];
      assert.deepEqual(props(url), {
        AuthType: 'NONE',
        InvokeMode: 'BUFFERED',
        TargetFunctionArn: { 'Fn::GetAtt': [handler, 'Arn'] },
      }, 'no CORS, no qualifier');
      // The resource policy a public URL needs, and no other public grant.
      const refersToHandler = (j: Json | undefined) =>
        JSON.stringify(j) === JSON.stringify({ Ref: handler }) || JSON.stringify(j) === JSON.stringify({ 'Fn::GetAtt': [handler, 'Arn'] });
      const publicGrants = ofType(on, 'AWS::Lambda::Permission').filter(([, perm]) => props(perm).Principal !== 'events.amazonaws.com');
      const byAction = Object.fromEntries(publicGrants.map(([, perm]) => [String(props(perm).Action), props(perm)]));
      assert.deepEqual(Object.keys(byAction).sort(), ['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl']);
      for (const perm of Object.values(byAction)) {
        assert.equal(perm.Principal, '*');
        assert.ok(refersToHandler(perm.FunctionName), 'on approval-handler only');
        assert.equal(perm.SourceArn, undefined);
      }
      assert.equal(byAction['lambda:InvokeFunctionUrl'].FunctionUrlAuthType, 'NONE');
      assert.equal(byAction['lambda:InvokeFunction'].InvokedViaFunctionUrl, true, 'InvokeFunction through the URL only');
      for (const [id, perm] of ofType(on, 'AWS::Lambda::Permission')) {
        if (props(perm).Principal === 'events.amazonaws.com') assert.ok(props(perm).SourceArn, `${id} is limited to one rule`);
      }
      // The links instance-guard and security-group-guard report point at it; no other function is told.
      const urlAttribute = { 'Fn::GetAtt': [urlId, 'FunctionUrl'] };
      assert.deepEqual(env(on, instanceGuard).APPROVAL_URL, urlAttribute);
      assert.deepEqual(env(on, securityGroupGuard).APPROVAL_URL, urlAttribute);
      for (const words of ['node parameters', HANDLER]) {
        assert.equal('APPROVAL_URL' in env(on, grants.fnByDescription(words)), false, words);
      }
      assert.deepEqual(on.Outputs?.ApprovalUrl?.Value, urlAttribute);
    });

    it("lets approval-handler invoke instance-guard and security-group-guard only, read the key only, and write nothing", () => {
      const { handlerStatements: statements, instanceGuardName, securityGroupGuardName, grants, handler } = approvalsOf(on);
      // Logs, the key and the Invoke: no EC2, RDS, Auto Scaling, SNS, SQS, tag, IAM or other action.
      assert.deepEqual([...new Set(statements.flatMap(actions))].sort(),
        ['kms:Decrypt', 'lambda:InvokeFunction', 'logs:CreateLogStream', 'logs:PutLogEvents', 'ssm:GetParameter']);
      const invoke = only(statements, 'lambda:InvokeFunction');
      assert.equal(invoke.Sid, 'InvokeOwningFunctionsOnly');
      const functionArn = (fnName: string) => `arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:${fnName}`;
      assert.deepEqual(resourcesOf(invoke).map(String).sort(),
        [functionArn(instanceGuardName), functionArn(securityGroupGuardName)].sort(), 'instance-guard and security-group-guard, exactly');
      assert.equal(invoke.Condition, undefined);
      assert.deepEqual(resourcesOf(only(statements, 'ssm:GetParameter')), [APPROVAL_KEY_ARN], 'the key parameter, exactly');
      decryptsOnlyTheKey(only(statements, 'kms:Decrypt'), 'managed');
      const logs = statements.filter((st) => actions(st).some((a) => a.startsWith('logs:')));
      assert.deepEqual(logs.flatMap(resourcesOf).map((r) => JSON.stringify(r)),
        [JSON.stringify({ 'Fn::GetAtt': [(props(on.Resources[handler]).LoggingConfig as Record<string, { Ref: string }>).LogGroup.Ref, 'Arn'] })],
        'its own log group');
      // Whatever a write on the stack's resources could be called: none.
      for (const action of ['ec2:StopInstances', 'ec2:ModifyInstanceAttribute', 'ec2:CreateTags', 'ec2:AuthorizeSecurityGroupIngress',
        'rds:ModifyDBInstance', 'rds:AddTagsToResource', 'autoscaling:UpdateAutoScalingGroup', 'autoscaling:CreateOrUpdateTags',
        'ssm:PutParameter', 'ssm:SendCommand', 'ssm:GetParametersByPath', 'ssm:AddTagsToResource', 'sns:Publish', 'sqs:SendMessage',
        'iam:PassRole', 'tag:TagResources', 'lambda:UpdateFunctionConfiguration', 'lambda:InvokeFunctionUrl', 'kms:Encrypt']) {
        assert.ok(!statements.some((st) => actions(st).some((a) => covers(a, action, true))), `approval-handler may not ${action}`);
      }
      // Nobody else may invoke a function.
      for (const words of ['security-group drift', 'node parameters', 'CloudWatch alarms']) {
        const others = grants.statementsOf(grants.roleOf(grants.fnByDescription(words)));
        assert.ok(!others.some((st) => actions(st).some((a) => /^lambda:/i.test(a) || a === '*')), words);
      }
    });

    it('lets instance-guard read and decrypt the approval key and no other parameter', () => {
      const { instanceStatements: statements } = approvalsOf(on);
      const ssm = statements.filter((st) => actions(st).some((a) => a === '*' || (/^ssm:/i.test(a) && a !== 'ssm:SendCommand')));
      assert.deepEqual(ssm.map((st) => st.Sid).sort(), ['ReadApprovalKey', 'ReadThisStacksParametersUndecrypted']);
      const read = only(statements, 'ssm:GetParameter');
      assert.equal(read.Sid, 'ReadApprovalKey');
      assert.deepEqual(resourcesOf(read), [APPROVAL_KEY_ARN]);
      // Through Parameter Store, only the key's value decrypts: the parameters under the stack's
      // path (GetParametersByPath) still arrive encrypted.
      const throughSsm = statements.filter((st) => JSON.stringify(st).includes('ssm.<AWS::Region>.amazonaws.com'));
      assert.equal(throughSsm.length, 1);
      decryptsOnlyTheKey(throughSsm[0], 'managed');
      for (const action of ['ssm:GetParameters', 'ssm:GetParameterHistory', 'ssm:PutParameter', 'ssm:DeleteParameter', 'lambda:InvokeFunction']) {
        assert.ok(!statements.some((st) => grantsAnyOf(st, action)), `instance-guard may not ${action}`);
      }
      // parameter-guard gains nothing (both synthesized alike: cdk.json's flags order actions);
      // security-group-guard, the key's read (below).
      const grants = grantsOf(on);
      const before = grantsOf(deployed({}, {}));
      assert.deepEqual(grants.statementsOf(grants.roleOf(grants.fnByDescription('node parameters'))),
        before.statementsOf(before.roleOf(before.fnByDescription('node parameters'))), 'parameter-guard');
    });

    it('lets security-group-guard read and decrypt the approval key and no other parameter, and gives parameter-guard neither', () => {
      const { securityGroupStatements: statements, instanceStatements } = approvalsOf(on);
      const ssm = statements.filter((st) => actions(st).some((a) => a === '*' || /^ssm:/i.test(a)));
      assert.deepEqual(ssm.map((st) => st.Sid).sort(), ['ReadApprovalKey', 'ReadThisStacksParametersUndecrypted']);
      const read = only(statements, 'ssm:GetParameter');
      assert.equal(read.Sid, 'ReadApprovalKey');
      assert.deepEqual(resourcesOf(read), [APPROVAL_KEY_ARN]);
      // Through Parameter Store, only the key's value decrypts: the parameters under the stack's
      // path (GetParametersByPath, GetParameters) still arrive encrypted.
      const throughSsm = statements.filter((st) => JSON.stringify(st).includes('ssm.<AWS::Region>.amazonaws.com'));
      assert.equal(throughSsm.length, 1);
      decryptsOnlyTheKey(throughSsm[0], 'managed');
      for (const action of ['ssm:GetParameterHistory', 'ssm:PutParameter', 'ssm:DeleteParameter', 'kms:Encrypt',
        'lambda:InvokeFunction']) {
        assert.ok(!statements.some((st) => grantsAnyOf(st, action)), `security-group-guard may not ${action}`);
      }
      // Exactly what it had before, instance-guard's two statements on the key, and the
      // approval tag's two (below).
      const approvalSids = ['ReadApprovalKey', 'DecryptApprovalKeyOnly'];
      const keyStatements = (sts: Statement[]) => sts.filter((st) => approvalSids.includes(st.Sid ?? ''));
      assert.equal(keyStatements(statements).length, 2);
      assert.deepEqual(keyStatements(statements), keyStatements(instanceStatements), "instance-guard's statements");
      const before = grantsOf(deployed({}, {}));
      assert.deepEqual(statements.filter((st) => ![...approvalSids, ...APPROVAL_TAG_SIDS].includes(st.Sid ?? '')),
        before.statementsOf(before.roleOf(before.fnByDescription('security-group drift'))), 'nothing else changed');
      // parameter-guard: no name of its own, no URL, no approval statement, nothing naming the key.
      const grants = grantsOf(on);
      const parameterGuard = grants.fnByDescription('node parameters');
      assert.equal(props(on.Resources[parameterGuard]).FunctionName, undefined, 'CloudFormation names parameter-guard');
      assert.equal('APPROVAL_URL' in env(on, parameterGuard), false);
      const parameterStatements = grants.statementsOf(grants.roleOf(parameterGuard));
      assert.deepEqual(parameterStatements.filter((st) => /Approval/.test(st.Sid ?? '')), []);
      assert.ok(!JSON.stringify(parameterStatements).includes('approval-key'), 'parameter-guard never names the key');
      assert.ok(!JSON.stringify(parameterStatements).includes('PARAMETER_ARN'), 'parameter-guard has no approval-key decryption');
    });
    const grantsAnyOf = (st: Statement, action: string) => actions(st).some((a) => covers(a, action, true));

    it("lets security-group-guard tag the stack's groups with chainlink:approval only, and only with approvals", () => {
      const groupsArn = 'arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*';
      const tagWrites = ['ec2:CreateTags', 'ec2:DeleteTags'];
      const { securityGroupStatements: statements, instanceStatements, handlerStatements, grants } = approvalsOf(on);
      // One CreateTags per changed group, of the one key, on the stack's groups in its VPCs: the
      // conditions of the rule writes (RepairRulesOfThisStackOnly), and the tag key's.
      const record = only(statements, 'ec2:CreateTags');
      assert.equal(record.Sid, 'RecordApprovalTagOnly');
      assert.deepEqual(resourcesOf(record), [groupsArn], 'security groups only');
      assert.deepEqual(record.Condition, {
        StringEquals: { 'aws:ResourceTag/chainlink:stack': STACK },
        ArnLike: { 'ec2:Vpc': ['arn:*:ec2:*:*:vpc/<StackVpcIds>'] },
        // No other key (chainlink:stack, chainlink:role) can be added or overwritten, and a
        // request naming no key does not pass ForAllValues vacuously.
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['chainlink:approval'] },
        Null: { 'aws:TagKeys': 'false' },
      });
      const [repair] = statements.filter((st) => grantsAnyOf(st, 'ec2:AuthorizeSecurityGroupIngress'));
      assert.deepEqual(
        { StringEquals: record.Condition?.StringEquals, ArnLike: record.Condition?.ArnLike },
        { StringEquals: repair.Condition?.StringEquals, ArnLike: repair.Condition?.ArnLike },
        "the rule writes' stack and VPC conditions",
      );
      // The nonces already recorded: DescribeTags has no resource-level permissions.
      const read = only(statements, 'ec2:DescribeTags');
      assert.equal(read.Sid, 'ReadApprovalTags');
      assert.deepEqual(resourcesOf(read), ['*']);
      assert.equal(read.Condition, undefined);
      assert.ok(!statements.some((st) => grantsAnyOf(st, 'ec2:DeleteTags')), 'security-group-guard may not ec2:DeleteTags');
      // What a deployment gives is what IAM enforces: the VPCs given, one pattern each.
      const given = name === 'cdk'
        ? resolveTemplate(cdkTemplateWith({ approvalKeyParameter: APPROVAL_KEY }), { StackVpcIds: 'vpc-0a1b2c3d,vpc-0e1f2a3b4c5d6e7f8' })
        : resolveTemplate(raw(), { ApprovalKeyParameter: APPROVAL_KEY, StackVpcIds: 'vpc-0a1b2c3d,vpc-0e1f2a3b4c5d6e7f8' });
      assert.deepEqual(only(approvalsOf(given).securityGroupStatements, 'ec2:CreateTags').Condition?.ArnLike,
        { 'ec2:Vpc': ['arn:*:ec2:*:*:vpc/vpc-0a1b2c3d', 'arn:*:ec2:*:*:vpc/vpc-0e1f2a3b4c5d6e7f8'] });
      // No other role tags a group: instance-guard's tag writes are on instances and volumes (and
      // network interfaces, at launch), parameter-guard and approval-handler have none.
      const parameterStatements = grants.statementsOf(grants.roleOf(grants.fnByDescription('node parameters')));
      for (const [fn, sts] of [['instance-guard', instanceStatements], ['parameter-guard', parameterStatements],
        ['approval-handler', handlerStatements]] as const) {
        const onGroups = sts.filter((st) => tagWrites.some((a) => grantsAnyOf(st, a))
          && resourcesOf(st).some((r) => r === '*' || covers(String(r), groupsArn)));
        assert.deepEqual(onGroups, [], `${fn} tags no security group`);
      }
      // Without approvals: neither statement, no tag action at all.
      const before = grantsOf(off);
      const offStatements = before.statementsOf(before.roleOf(before.fnByDescription('security-group drift')));
      assert.deepEqual(offStatements.filter((st) => APPROVAL_TAG_SIDS.includes(st.Sid ?? '')), []);
      for (const action of [...tagWrites, 'ec2:DescribeTags']) {
        assert.ok(!offStatements.some((st) => grantsAnyOf(st, action)), `without approvals, security-group-guard may not ${action}`);
      }
    });

    it('decrypts the approval key with the SecureStrings\' key when one is given, still that parameter only', () => {
      const given = deployed({ approvalKeyParameter: APPROVAL_KEY, ssmKmsKeyArn: SSM_KEY },
        { ApprovalKeyParameter: APPROVAL_KEY, SsmKmsKeyArn: SSM_KEY });
      const { handlerStatements, instanceStatements, securityGroupStatements } = approvalsOf(given);
      decryptsOnlyTheKey(only(handlerStatements, 'kms:Decrypt'), 'given');
      for (const [fn, statements] of [['instance-guard', instanceStatements], ['security-group-guard', securityGroupStatements]] as const) {
        const throughSsm = statements.filter((st) => JSON.stringify(st).includes('ssm.<AWS::Region>.amazonaws.com'));
        assert.equal(throughSsm.length, 1, fn);
        decryptsOnlyTheKey(throughSsm[0], 'given');
      }
    });

    it('reads the stack file from Parameter Store as the other functions do', () => {
      const parameterArn = `arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/chainlink-remediator/${STACK}/stack.toml`;
      const ssm = deployed({ approvalKeyParameter: APPROVAL_KEY, stackFileSource: 'ssm' },
        { ApprovalKeyParameter: APPROVAL_KEY, StackFileSource: 'ssm' });
      const { handler, instanceGuard, handlerStatements, instanceStatements } = approvalsOf(ssm);
      assert.equal(env(ssm, handler).STACK_FILE_PARAMETER, env(ssm, instanceGuard).STACK_FILE_PARAMETER);
      assert.equal(env(ssm, handler).STACK_FILE, undefined);
      assert.equal(props(ssm.Resources[handler]).Layers, undefined, 'no stack-file layer');
      const stackFile = handlerStatements.filter((st) => st.Sid === 'ReadStackFileParameter');
      assert.equal(stackFile.length, 1);
      assert.deepEqual(stackFile, instanceStatements.filter((st) => st.Sid === 'ReadStackFileParameter'), 'the same statement');
      assert.deepEqual(resourcesOf(stackFile[0]), [parameterArn]);
      // GetParameter reaches the stack file and the key, nothing else.
      assert.deepEqual(handlerStatements.filter((st) => grantsAnyOf(st, 'ssm:GetParameter')).flatMap(resourcesOf).sort(),
        [APPROVAL_KEY_ARN, parameterArn].sort());
    });

    if (name === 'cdk') {
      it('refuses a stack name that makes instance-guard\'s or security-group-guard\'s name longer than 64 characters', () => {
        // 44 characters: instance-guard's name would fit (59), security-group-guard's not (65).
        assert.throws(() => cdkTemplateWith({ approvalKeyParameter: APPROVAL_KEY }, `S${'x'.repeat(43)}`),
          /security-group-guard is then named .* 64 characters/);
        assert.throws(() => cdkTemplateWith({ approvalKeyParameter: APPROVAL_KEY }, `S${'x'.repeat(49)}`), /64 characters/);
        assert.doesNotThrow(() => cdkTemplateWith({ approvalKeyParameter: APPROVAL_KEY }, `S${'x'.repeat(42)}`), '43 characters fit');
        assert.doesNotThrow(() => cdkTemplateWith({}, `S${'x'.repeat(49)}`), 'without approvals CloudFormation names it');
      });
    }
  });
}

// ---- Report pages: each report also kept as a page in a bucket of the stack -----------------

for (const [name, file] of Object.entries(templateFiles)) {
  describe(`${name} template: report pages (ReportPages)`, () => {
    const raw = () => JSON.parse(fs.readFileSync(file, 'utf8')) as Template;
    /** The deployment with these CDK context values, or these SAM parameters (and deploy-time parameters). */
    const deployed = (cdk: Record<string, unknown>, sam: Record<string, string>, parameters: Record<string, string> = {}): Template =>
      name === 'cdk' ? resolveTemplate(cdkTemplateWith(cdk), parameters) : resolveTemplate(raw(), { ...sam, ...parameters });
    const unresolved = (): Template => (name === 'cdk' ? cdkTemplateWith({ reportPages: true }) : raw());
    const off = resolveTemplate(raw());
    const approvalsOnly = deployed({ approvalKeyParameter: APPROVAL_KEY }, { ApprovalKeyParameter: APPROVAL_KEY });
    const on = deployed({ reportPages: true }, { ReportPages: 'true' });
    const both = deployed({ reportPages: true, approvalKeyParameter: APPROVAL_KEY }, { ReportPages: 'true', ApprovalKeyParameter: APPROVAL_KEY });
    const props = (r: Resource) => r.Properties ?? {};
    const ofType = (t: Template, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
    const env = (t: Template, fn: string) =>
      ((props(t.Resources[fn]).Environment as Json) as { Variables?: Record<string, Json> } | undefined)?.Variables ?? {};
    const actions = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);
    const resourcesOf = (st: Statement) => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]);
    const GUARDS = ['security-group drift', 'node parameters', 'CloudWatch alarms'];
    const HANDLER = 'approve or deny link';
    const BUCKET = 'ReportPagesBucket';
    // SAM's !Sub keeps ${Id} and ${Id.Arn}; the CDK's Fn::Join reads as embedded JSON (test/resolve.ts).
    const named = (r: Json) =>
      (typeof r === 'string' ? r : JSON.stringify(r))
        .replace(`\${${BUCKET}.Arn}`, '<bucket arn>')
        .replace(JSON.stringify({ 'Fn::GetAtt': [BUCKET, 'Arn'] }), '<bucket arn>')
        .replace(`\${${BUCKET}}`, '<bucket>')
        .replace(JSON.stringify({ Ref: BUCKET }), '<bucket>');
    /** Every statement of every function's role that names an S3 action (or `*`), by function. */
    const s3Grants = (t: Template) => {
      const grants = grantsOf(t);
      return ofType(t, 'AWS::Lambda::Function').flatMap(([fn]) =>
        grants.statementsOf(grants.roleOf(fn))
          .filter((st) => actions(st).some((a) => a === '*' || /^s3:/i.test(a)))
          .map((st) => ({ fn, st })));
    };
    const bucketOf = (t: Template): Resource => {
      const buckets = ofType(t, 'AWS::S3::Bucket');
      assert.deepEqual(buckets.map(([id]) => id), [BUCKET], 'one bucket, ReportPagesBucket');
      return buckets[0][1];
    };

    it('deploys no bucket, no S3 permission and no REPORT_BUCKET without ReportPages', () => {
      for (const [deployment, t] of [['defaults', off], ['approvals', approvalsOnly]] as const) {
        assert.deepEqual(ofType(t, 'AWS::S3::Bucket'), [], deployment);
        assert.deepEqual(ofType(t, 'AWS::S3::BucketPolicy'), [], deployment);
        assert.deepEqual(s3Grants(t), [], `${deployment}: no function has an S3 action`);
        for (const [fn] of ofType(t, 'AWS::Lambda::Function')) {
          assert.equal('REPORT_BUCKET' in env(t, fn), false, `${deployment}: ${fn}`);
        }
        assert.equal(t.Outputs?.ReportPagesBucketName, undefined, deployment);
      }
      const parameters = unresolved().Parameters ?? {};
      if (name === 'sam') {
        const reportPages = parameters.ReportPages as { Default?: Json; AllowedValues?: Json } | undefined;
        assert.equal(reportPages?.Default, 'false', 'off by default');
        assert.deepEqual(reportPages?.AllowedValues, ['true', 'false']);
      }
      assert.deepEqual(
        { ...parameters.ReportPageDays, Description: undefined },
        { Type: 'Number', Default: 90, MinValue: 1, MaxValue: 3650, Description: undefined },
        'ReportPageDays: 90 days by default, 1 to 3650',
      );
    });

    it('keeps the pages in a private, encrypted bucket of the stack, retained with the stack', () => {
      const bucket = bucketOf(on);
      const p = props(bucket);
      assert.deepEqual(p.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
      });
      assert.deepEqual(p.OwnershipControls, { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] }, 'no ACLs');
      assert.deepEqual(p.BucketEncryption, {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      // A page a stolen role overwrites survives as a noncurrent version, expired with the pages.
      assert.deepEqual(p.VersioningConfiguration, { Status: 'Enabled' });
      const expiring = ((p.LifecycleConfiguration as { Rules: Array<Record<string, Json>> }).Rules)
        .find((r) => r.ExpirationInDays !== undefined);
      const noncurrent = expiring?.NoncurrentVersionExpiration as Record<string, Json> | undefined;
      assert.equal(Number(noncurrent?.NoncurrentDays), 90, 'noncurrent versions expire with the pages');
      assert.equal(p.AccessControl, undefined, 'no canned ACL');
      assert.equal(p.WebsiteConfiguration, undefined, 'no website');
      assert.equal(p.BucketName, undefined, 'CloudFormation names it');
      // Reports are evidence: the bucket outlives the stack and a replacement.
      const r = bucket as Resource & { DeletionPolicy?: string; UpdateReplacePolicy?: string };
      assert.deepEqual([r.DeletionPolicy, r.UpdateReplacePolicy], ['Retain', 'Retain']);
      const tags = Object.fromEntries(((p.Tags ?? []) as Array<{ Key: string; Value: Json }>).map((x) => [x.Key, x.Value]));
      assert.equal(tags['chainlink:stack'], STACK);
      assert.equal(tags['chainlink:role'], 'remediator');
      assert.deepEqual(on.Outputs?.ReportPagesBucketName?.Value, { Ref: BUCKET });
    });

    it('refuses every request to the bucket that is not over TLS', () => {
      const policies = ofType(on, 'AWS::S3::BucketPolicy');
      assert.equal(policies.length, 1);
      const p = props(policies[0][1]);
      assert.deepEqual(p.Bucket, { Ref: BUCKET });
      const document = p.PolicyDocument as { Statement: Array<Statement & { Principal: Json }> };
      assert.equal(document.Statement.length, 1, 'TLS only, and no grant');
      const [st] = document.Statement;
      assert.equal(st.Effect, 'Deny');
      assert.ok(JSON.stringify(st.Principal) === '"*"' || JSON.stringify(st.Principal) === '{"AWS":"*"}', 'everyone');
      assert.deepEqual(actions(st), ['s3:*']);
      assert.deepEqual(resourcesOf(st).map(named).sort(), ['<bucket arn>', '<bucket arn>/*']);
      assert.deepEqual(st.Condition, { Bool: { 'aws:SecureTransport': 'false' } });
      // Left with the bucket when the stack goes.
      const r = policies[0][1] as Resource & { DeletionPolicy?: string };
      assert.equal(r.DeletionPolicy, 'Retain');
    });

    it('expires the pages under reports/ after ReportPageDays days, and incomplete uploads after one', () => {
      const rules = (t: Template) =>
        ((props(bucketOf(t)).LifecycleConfiguration as { Rules: Array<Record<string, Json>> }).Rules);
      const expiry = (t: Template) => {
        const expiring = rules(t).filter((r) => r.ExpirationInDays !== undefined || r.ExpirationDate !== undefined);
        assert.equal(expiring.length, 1, 'one rule expires objects');
        const [rule] = expiring;
        assert.equal(rule.Status, 'Enabled');
        const prefix = rule.Prefix ?? (rule.Filter as Record<string, Json> | undefined)?.Prefix;
        assert.equal(prefix, 'reports/', 'the pages, under reports/');
        return Number(rule.ExpirationInDays);
      };
      assert.equal(expiry(on), 90, 'ReportPageDays defaults to 90');
      assert.equal(expiry(deployed({ reportPages: true }, { ReportPages: 'true' }, { ReportPageDays: '7' })), 7,
        'what a deployment gives is what the lifecycle keeps');
      const aborting = rules(on).filter((r) => r.AbortIncompleteMultipartUpload !== undefined);
      assert.equal(aborting.length, 1);
      assert.equal(aborting[0].Status, 'Enabled');
      assert.deepEqual(aborting[0].AbortIncompleteMultipartUpload, { DaysAfterInitiation: 1 });
      assert.equal(aborting[0].Prefix ?? aborting[0].Filter, undefined, 'the whole bucket');
    });

    it("lets each guard function s3:PutObject under the bucket's reports/ only, and no function anything else of S3", () => {
      for (const [deployment, t, count] of [['report pages', on, 3], ['report pages and approvals', both, 4]] as const) {
        const grants = grantsOf(t);
        const found = s3Grants(t);
        assert.equal(ofType(t, 'AWS::Lambda::Function').length, count, deployment);
        const guards = GUARDS.map((words) => grants.fnByDescription(words));
        assert.deepEqual(found.map(({ fn }) => fn).sort(), [...guards].sort(), `${deployment}: one S3 statement per guard function`);
        for (const { fn, st } of found) {
          assert.equal(st.Effect, 'Allow');
          assert.deepEqual(actions(st), ['s3:PutObject'], `${deployment}: ${fn}: PutObject alone`);
          assert.deepEqual(resourcesOf(st).map(named), ['arn:<AWS::Partition>:s3:::<bucket>/reports/*'],
            `${deployment}: ${fn}: the bucket's reports/ only`);
        }
        // Whatever else S3 could be asked: no grant reaches it.
        for (const action of ['s3:GetObject', 's3:ListBucket', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectAcl',
          's3:PutObjectTagging', 's3:PutBucketPolicy', 's3:PutBucketAcl', 's3:PutLifecycleConfiguration', 's3:DeleteBucket',
          's3:PutBucketPublicAccessBlock', 's3:RestoreObject']) {
          for (const [fn] of ofType(t, 'AWS::Lambda::Function')) {
            const statements = grants.statementsOf(grants.roleOf(fn));
            assert.ok(!statements.some((st) => actions(st).some((a) => covers(a, action, true))), `${deployment}: ${fn} may not ${action}`);
          }
        }
        if (count === 4) {
          const handler = grants.fnByDescription(HANDLER);
          assert.ok(!found.some(({ fn }) => fn === handler), 'approval-handler has no S3 action');
        }
      }
    });

    it('tells each guard function the bucket (REPORT_BUCKET), and approval-handler nothing', () => {
      for (const t of [on, both]) {
        const grants = grantsOf(t);
        for (const words of GUARDS) {
          assert.deepEqual(env(t, grants.fnByDescription(words)).REPORT_BUCKET, { Ref: BUCKET }, words);
        }
      }
      const handler = grantsOf(both).fnByDescription(HANDLER);
      assert.equal('REPORT_BUCKET' in env(both, handler), false, 'approval-handler publishes no report');
    });
  });
}

// ---- An organisation: the central deployment (OrganizationId) and the member template ------

const ORG = 'o-exampleorgid1';
const MEMBER_ROLE = 'ChainlinkRemediatorMember';
const MEMBER_FILE = path.join(CDK_DIR, '..', 'member', 'template.yaml');
const SAM_FILE = path.join(CDK_DIR, '..', 'sam', 'template.yaml');
const CENTRAL_BUS = 'arn:aws:events:us-east-1:123456789012:event-bus/chainlink-remediator-demo-members';
const GUARD_ROLES = [
  'arn:aws:iam::123456789012:role/demo-SecurityGroupGuardRole-1',
  'arn:aws:iam::123456789012:role/demo-ParameterGuardRole-1',
  'arn:aws:iam::123456789012:role/demo-InstanceGuardRole-1',
];
const MEMBER_DOCUMENT = `chainlink-remediator-${STACK}-extend-filesystem`;
const GUARD_WORDS = ['security-group drift', 'node parameters', 'CloudWatch alarms'];

/** A YAML CloudFormation template (short-form intrinsics included), read as CDK's cfn-include reads one. */
function readCfnYaml(file: string): Template {
  const fileUtils = require(
    path.join(path.dirname(require.resolve('aws-cdk-lib/package.json')), 'cloudformation-include', 'lib', 'file-utils.js'),
  ) as { readYamlSync: (f: string) => unknown };
  return fileUtils.readYamlSync(file) as Template;
}

/** The member template as one stack instance deploys it (in `region`, us-east-1 by default). */
function memberDeployed(overrides: Record<string, string> = {}, region = 'us-east-1'): Template {
  return resolveTemplate(readCfnYaml(MEMBER_FILE), {
    CentralEventBusArn: CENTRAL_BUS,
    GuardRoleArns: GUARD_ROLES.join(','),
    'AWS::Region': region,
    ...overrides,
  });
}

const statementActions = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);
const statementResources = (st: Statement) => (Array.isArray(st.Resource) ? st.Resource : [st.Resource]);
/** Every statement of a policy document, by reference. */
const statementsIn = (document: Json | undefined): Statement[] =>
  isObject(document) ? ([document.Statement].flat() as unknown as Statement[]) : [];
/** A statement with its actions and resources sorted, for comparing statements. */
const sortedStatement = (st: Statement): Statement => ({
  ...st,
  Action: [...statementActions(st)].sort(),
  Resource: statementResources(st).map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).sort(),
});
/** JSON with every object's keys sorted: statements compared whatever order a template writes. */
const canonical = (j: unknown): string =>
  JSON.stringify(j, (_k, v: unknown) =>
    isObject(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v);
/** The event patterns of a template's rules on the default bus (no EventBusName), as sorted JSON. */
const defaultBusPatterns = (t: Template): string[] =>
  Object.values(t.Resources)
    .filter((r) => r.Type === 'AWS::Events::Rule' && r.Properties?.EventPattern && r.Properties?.EventBusName === undefined)
    .map((r) => JSON.stringify(r.Properties?.EventPattern))
    .sort();

for (const [name, file] of Object.entries(templateFiles)) {
  describe(`${name} template: an organisation (OrganizationId), central`, () => {
    const raw = () => JSON.parse(fs.readFileSync(file, 'utf8')) as Template;
    /** The deployment with these CDK context values, or these SAM parameters (and deploy-time parameters). */
    const deployed = (cdk: Record<string, unknown>, sam: Record<string, string>, parameters: Record<string, string> = {}): Template =>
      name === 'cdk' ? resolveTemplate(cdkTemplateWith(cdk), parameters) : resolveTemplate(raw(), { ...sam, ...parameters });
    const off = resolveTemplate(raw());
    const on = deployed({ organizationId: ORG }, { OrganizationId: ORG });
    const props = (r: Resource) => r.Properties ?? {};
    const ofType = (t: Template, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
    const env = (t: Template, fn: string) =>
      ((props(t.Resources[fn]).Environment as Json) as { Variables?: Record<string, Json> } | undefined)?.Variables ?? {};
    const getAtt = (j: Json | undefined) => (isObject(j) && Array.isArray(j['Fn::GetAtt']) ? String(j['Fn::GetAtt'][0]) : '');
    const ref = (j: Json | undefined) => (isObject(j) && typeof j.Ref === 'string' ? j.Ref : '');
    const ORGANIZATION_TYPES = ['AWS::Lambda::EventSourceMapping', 'AWS::Events::EventBus', 'AWS::Events::EventBusPolicy'];

    /** Each guard function's role, event source mapping, target queue and dead-letter queue. */
    const targetsOf = (t: Template) => {
      const grants = grantsOf(t);
      return GUARD_WORDS.map((words) => {
        const fn = grants.fnByDescription(words);
        const mappings = ofType(t, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => ref(props(m).FunctionName) === fn);
        assert.equal(mappings.length, 1, `${words}: one event source mapping`);
        const [mappingId, mapping] = mappings[0];
        const queue = getAtt(props(mapping).EventSourceArn);
        const redrive = props(t.Resources[queue]).RedrivePolicy as Record<string, Json>;
        const deadLetters = getAtt(redrive?.deadLetterTargetArn);
        return { words, fn, role: grants.roleOf(fn), mappingId, mapping, queue, deadLetters, grants };
      });
    };

    it('deploys nothing of an organisation without OrganizationId, and keeps one run at a time per function', () => {
      for (const type of ORGANIZATION_TYPES) assert.deepEqual(ofType(off, type), [], type);
      for (const [id, q] of ofType(off, 'AWS::SQS::Queue')) assert.equal(props(q).FifoQueue, undefined, id);
      assert.ok(!ofType(off, 'AWS::Events::Rule').some(([, r]) => props(r).EventBusName !== undefined), 'no rule off the default bus');
      const grants = grantsOf(off);
      for (const words of GUARD_WORDS) {
        const fn = grants.fnByDescription(words);
        assert.equal(props(off.Resources[fn]).ReservedConcurrentExecutions, 1, words);
        assert.equal('TARGET_QUEUE_URL' in env(off, fn), false, words);
        assert.equal('MEMBER_FILESYSTEM_DOCUMENT' in env(off, fn), false, words);
        const statements = grants.statementsOf(grants.roleOf(fn));
        assert.ok(!statements.some((st) => statementActions(st).some((a) => /^(sts|organizations):/i.test(a))), words);
      }
      for (const output of ['MemberEventBusArn', 'GuardRoleArns', 'TargetQueueUrls']) assert.equal(off.Outputs?.[output], undefined, output);
      // The deploy-time parameters: SAM's always (OrganizationId off by default), the CDK app's
      // only with an organisation (organizationId is a context setting).
      const parameters = name === 'cdk' ? cdkTemplateWith({ organizationId: ORG }).Parameters ?? {} : raw().Parameters ?? {};
      const spec = (p: string) => ({ ...(parameters[p] as Record<string, Json>), Description: undefined });
      if (name === 'sam') {
        assert.deepEqual(spec('OrganizationId'),
          { Type: 'String', Default: '', AllowedPattern: '^$|^o-[a-z0-9]{10,32}$', Description: undefined });
      } else {
        assert.equal(raw().Parameters?.MemberRoleName, undefined, 'no organisation parameter without organizationId');
        assert.throws(() => cdkTemplateWith({ organizationId: 'o-Short' }), /organizationId/);
      }
      assert.deepEqual(spec('MemberRoleName'),
        { Type: 'String', Default: MEMBER_ROLE, AllowedPattern: '^[A-Za-z0-9+=,.@_-]{1,64}$', Description: undefined });
      assert.deepEqual(spec('TargetAttempts'), { Type: 'Number', Default: 3, MinValue: 1, MaxValue: 10, Description: undefined });
      assert.deepEqual(spec('TargetConcurrency'), { Type: 'Number', Default: 50, MinValue: 2, MaxValue: 1000, Description: undefined });
    });

    it('gives each guard function a FIFO target queue, consumed ten at a time up to TargetConcurrency, with a FIFO dead-letter queue', () => {
      const check = (t: Template, attempts: number, concurrency: number) => {
        const found = targetsOf(t);
        assert.equal(new Set(found.map((x) => x.queue)).size, 3, 'a queue of its own per function');
        assert.equal(ofType(t, 'AWS::Lambda::EventSourceMapping').length, 3);
        for (const { words, fn, mapping, mappingId, queue, deadLetters, role } of found) {
          const q = props(t.Resources[queue]);
          assert.equal(q.FifoQueue, true, words);
          assert.equal(q.ContentBasedDeduplication, false, `${words}: the function names each message's deduplication ID`);
          assert.equal(q.SqsManagedSseEnabled, true, `${words}: SQS-managed encryption`);
          assert.equal(q.KmsMasterKeyId, undefined, `${words}: no KMS key for Lambda's poller to need`);
          assert.equal(Number(q.VisibilityTimeout), 6 * Number(props(t.Resources[fn]).Timeout), `${words}: six times the timeout`);
          assert.equal(Number((q.RedrivePolicy as Record<string, Json>).maxReceiveCount), attempts, words);
          const d = props(t.Resources[deadLetters]);
          assert.equal(d.FifoQueue, true, `${words}: a FIFO queue's dead letters go to a FIFO queue`);
          assert.equal(d.SqsManagedSseEnabled, true, words);
          assert.equal(Number(d.MessageRetentionPeriod), 1209600, `${words}: dead letters kept 14 days`);
          const m = props(mapping);
          assert.equal(m.BatchSize, 10, words);
          assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures'], words);
          assert.equal(Number((m.ScalingConfig as Record<string, Json>).MaximumConcurrency), concurrency, words);
          assert.equal(m.Enabled ?? true, true, words);
          assert.equal(m.MaximumBatchingWindowInSeconds, undefined, `${words}: FIFO has no batching window`);
          assert.equal(Number(props(t.Resources[fn]).ReservedConcurrentExecutions), concurrency, `${words}: reserved concurrency`);
          assert.deepEqual(env(t, fn).TARGET_QUEUE_URL, { Ref: queue }, `${words}: TARGET_QUEUE_URL is its own queue`);
          // Lambda checks at creation that the role may receive from the queue.
          const policies = ofType(t, 'AWS::IAM::Policy').filter(([, p]) =>
            ((props(p).Roles as Json[]) ?? []).some((r) => ref(r) === role)
            && statementsIn(props(p).PolicyDocument).some((st) => st.Sid === 'ConsumeOwnTargetQueue'));
          assert.equal(policies.length, 1, `${words}: one organisation policy`);
          const dependsOn = [(t.Resources[mappingId] as Resource & { DependsOn?: string | string[] }).DependsOn ?? []].flat();
          assert.ok(dependsOn.includes(policies[0][0]), `${words}: the mapping waits for the policy`);
        }
      };
      check(on, 3, 50);
      check(deployed({ organizationId: ORG }, { OrganizationId: ORG }, { TargetAttempts: '5', TargetConcurrency: '200' }), 5, 200);
      // approval-handler keeps its own reserved concurrency.
      const both = deployed({ organizationId: ORG, approvalKeyParameter: APPROVAL_KEY }, { OrganizationId: ORG, ApprovalKeyParameter: APPROVAL_KEY });
      const handler = grantsOf(both).fnByDescription('approve or deny link');
      assert.equal(props(both.Resources[handler]).ReservedConcurrentExecutions, 5);
      assert.equal('TARGET_QUEUE_URL' in env(both, handler), false);
    });

    it('refuses plain HTTP on every target and dead-letter queue, and alarms on each dead-letter queue', () => {
      const found = targetsOf(on);
      const queuePolicies = ofType(on, 'AWS::SQS::QueuePolicy').map(([, p]) => props(p));
      const failureAlarm = ofType(on, 'AWS::CloudWatch::Alarm').find(([, a]) => String(props(a).AlarmName).endsWith('failed invocations'));
      assert.ok(failureAlarm, 'the failure queue alarm');
      for (const { words, queue, deadLetters } of found) {
        for (const q of [queue, deadLetters]) {
          const tls = queuePolicies.flatMap((p) => statementsIn(p.PolicyDocument))
            .filter((st) => statementResources(st).some((r) => getAtt(r) === q));
          assert.equal(tls.length, 1, `${words}: ${q} has a TLS-only policy`);
          assert.equal(tls[0].Effect, 'Deny');
          assert.deepEqual(statementActions(tls[0]), ['sqs:*']);
          assert.deepEqual(tls[0].Condition, { Bool: { 'aws:SecureTransport': 'false' } });
        }
        const alarms = ofType(on, 'AWS::CloudWatch::Alarm').filter(([, a]) =>
          JSON.stringify(props(a).Dimensions ?? []).includes(JSON.stringify({ 'Fn::GetAtt': [deadLetters, 'QueueName'] })));
        assert.equal(alarms.length, 1, `${words}: one alarm on its dead-letter queue`);
        const a = props(alarms[0][1]);
        assert.deepEqual([a.Namespace, a.MetricName, a.Statistic, Number(a.Threshold), a.ComparisonOperator, a.TreatMissingData],
          ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'Maximum', 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'], words);
        assert.deepEqual(a.AlarmActions, props(failureAlarm[1]).AlarmActions, `${words}: where the other alarms go`);
        // Never "<stack>-" prefixed: instance-guard's rule must not take it for a node alarm.
        assert.ok(String(a.AlarmName).includes(' ') && !String(a.AlarmName).startsWith(`${STACK}-`), String(a.AlarmName));
      }
    });

    it('lets each guard function assume the member role in the organisation only, use its own queue, list the accounts, and nothing more', () => {
      const before = grantsOf(off);
      for (const { words, role, queue, grants } of targetsOf(on)) {
        const old = new Set(before.statementsOf(before.roleOf(before.fnByDescription(words))).map((st) => JSON.stringify(sortedStatement(st))));
        const added = grants.statementsOf(role).filter((st) => !old.has(JSON.stringify(sortedStatement(st)))).map(sortedStatement);
        const queueArn = JSON.stringify({ 'Fn::GetAtt': [queue, 'Arn'] });
        assert.deepEqual(added.sort((a, b) => String(a.Sid).localeCompare(String(b.Sid))), [
          {
            Sid: 'AssumeMemberRoleInOrganizationOnly', Effect: 'Allow', Action: ['sts:AssumeRole'],
            Resource: [`arn:<AWS::Partition>:iam::*:role/${MEMBER_ROLE}`],
            Condition: { StringEquals: { 'aws:ResourceOrgID': ORG } },
          },
          {
            Sid: 'ConsumeOwnTargetQueue', Effect: 'Allow', Action: ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
            Resource: [queueArn],
          },
          {
            Sid: 'ListAccountsUnderOrganizationalUnits', Effect: 'Allow',
            Action: ['organizations:ListAccountsForParent', 'organizations:ListChildren'],
            Resource: [`arn:<AWS::Partition>:organizations::*:ou/${ORG}/ou-*`, `arn:<AWS::Partition>:organizations::*:root/${ORG}/r-*`],
          },
          { Sid: 'ListOrganizationAccounts', Effect: 'Allow', Action: ['organizations:ListAccounts'], Resource: ['*'] },
          { Sid: 'SendToOwnTargetQueue', Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: [queueArn] },
        ], words);
        for (const action of ['sts:TagSession', 'sts:AssumeRoleWithWebIdentity', 'organizations:DescribeOrganization', 'sqs:ChangeMessageVisibility', 'sqs:PurgeQueue']) {
          assert.ok(!grants.statementsOf(role).some((st) => statementActions(st).some((a) => covers(a, action, true))), `${words} may not ${action}`);
        }
      }
      // A MemberRoleName given is the only role name it may assume.
      const named = deployed({ organizationId: ORG }, { OrganizationId: ORG }, { MemberRoleName: 'OpsRemediator' });
      for (const { role, grants } of targetsOf(named)) {
        const assume = grants.statementsOf(role).filter((st) => statementActions(st).includes('sts:AssumeRole'));
        assert.deepEqual(assume.flatMap(statementResources), ['arn:<AWS::Partition>:iam::*:role/OpsRemediator']);
      }
    });

    it("takes the members' events on a bus only the organisation may put to, by the default-bus patterns, to the same functions", () => {
      const buses = ofType(on, 'AWS::Events::EventBus');
      assert.equal(buses.length, 1);
      const [busId, bus] = buses[0];
      assert.match(String(props(bus).Name), /-members$/);
      const policies = ofType(on, 'AWS::Events::EventBusPolicy');
      assert.equal(policies.length, 1, 'one statement on the bus');
      const p = props(policies[0][1]);
      assert.equal(ref(p.EventBusName), busId);
      const { Sid: _sid, ...statement } = p.Statement as Record<string, Json>;
      assert.deepEqual(statement, {
        Effect: 'Allow', Principal: '*', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [busId, 'Arn'] },
        Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG } },
      });
      const rules = ofType(on, 'AWS::Events::Rule');
      const onBus = rules.filter(([, r]) => ref(props(r).EventBusName) === busId);
      const onDefault = rules.filter(([, r]) => props(r).EventBusName === undefined && props(r).EventPattern);
      assert.equal(onBus.length, 5);
      assert.ok(!onBus.some(([, r]) => props(r).ScheduleExpression), 'no schedule on the bus');
      const targetsOfRule = (r: Resource) => ((props(r).Targets as Json[]) ?? []).map((x) => getAtt(isObject(x) ? x.Arn : null)).sort();
      const byPattern = (list: Array<[string, Resource]>) =>
        list.map(([, r]) => `${JSON.stringify(props(r).EventPattern)} -> ${targetsOfRule(r).join(',')}`).sort();
      assert.deepEqual(byPattern(onBus), byPattern(onDefault), 'the same patterns, to the same functions');
      for (const [id] of onBus) {
        const permissions = ofType(on, 'AWS::Lambda::Permission').filter(([, perm]) => getAtt(props(perm).SourceArn) === id);
        assert.equal(permissions.length, 1, `${id}: invokes through its rule only`);
        assert.equal(props(permissions[0][1]).Principal, 'events.amazonaws.com');
      }
      for (const [id, perm] of ofType(on, 'AWS::Lambda::Permission')) {
        assert.equal(props(perm).Principal, 'events.amazonaws.com', id);
        assert.ok(props(perm).SourceArn, `${id} is limited to one rule`);
      }
      assert.deepEqual(on.Outputs?.MemberEventBusArn?.Value, { 'Fn::GetAtt': [busId, 'Arn'] });
      const roles = targetsOf(on).map((x) => x.role);
      const guardRoles = JSON.stringify(on.Outputs?.GuardRoleArns?.Value);
      const queues = JSON.stringify(on.Outputs?.TargetQueueUrls?.Value);
      assert.deepEqual(roles.map((r) => guardRoles.indexOf(r)).map((i) => i >= 0), [true, true, true], 'GuardRoleArns: the three roles');
      const order = roles.map((r) => guardRoles.indexOf(r));
      assert.deepEqual([...order].sort((a, b) => a - b), order, 'security-group-guard, parameter-guard, instance-guard');
      for (const { queue } of targetsOf(on)) assert.ok(queues.includes(queue), `TargetQueueUrls: ${queue}`);
    });

    it("tells instance-guard the filesystem document's name in the member accounts", () => {
      const grants = grantsOf(on);
      assert.equal(env(on, grants.fnByDescription('CloudWatch alarms')).MEMBER_FILESYSTEM_DOCUMENT, MEMBER_DOCUMENT);
      for (const words of ['security-group drift', 'node parameters']) {
        assert.equal('MEMBER_FILESYSTEM_DOCUMENT' in env(on, grants.fnByDescription(words)), false, words);
      }
      const member = memberDeployed();
      assert.equal(props(member.Resources.FilesystemDocument).Name, MEMBER_DOCUMENT);
    });
  });
}

describe('member template (infra/member/template.yaml)', () => {
  const raw = readCfnYaml(MEMBER_FILE);
  const inRoleRegion = memberDeployed();
  const elsewhere = memberDeployed({}, 'eu-west-1');
  const NODE_ROLE = 'chainlink-node';
  /** With a node role (the central NodeInstanceRoleArn's name): every statement the role can have. */
  const member = memberDeployed({ NodeInstanceRoleName: NODE_ROLE });
  const props = (r: Resource) => r.Properties ?? {};
  const ofType = (t: Template, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
  /** Every statement the member role is granted. */
  const memberStatements = (t: Template): Statement[] => {
    const role = props(t.Resources.MemberRole);
    assert.equal(role.Policies, undefined, 'managed policies only');
    return ((role.ManagedPolicyArns as Json[]) ?? []).flatMap((arn) => {
      assert.ok(isObject(arn) && typeof arn.Ref === 'string', 'a managed policy of the template');
      return statementsIn(props(t.Resources[arn.Ref as string]).PolicyDocument);
    });
  };

  it('is plain CloudFormation, its parameters the central ones where they mirror them', () => {
    assert.equal((raw as Template & { Transform?: Json }).Transform, undefined, 'no transform: a StackSet deploys it as it is');
    for (const [id, r] of Object.entries(raw.Resources)) assert.match(r.Type, /^AWS::(IAM|SSM|Events)::/, id);
    const parameters = raw.Parameters ?? {};
    const central = readCfnYaml(SAM_FILE).Parameters ?? {};
    for (const p of ['StackName', 'StackVpcIds', 'LadderInstanceTypes', 'ParameterPath', 'SsmKmsKeyArn', 'DatabaseClasses',
      'DatabaseStorageMaxGiB', 'MemberRoleName']) {
      assert.deepEqual({ ...parameters[p], Description: undefined }, { ...central[p], Description: undefined }, p);
    }
    assert.equal(parameters.CentralEventBusArn?.Default, undefined, 'CentralEventBusArn is given');
    assert.equal(parameters.GuardRoleArns?.Default, undefined, 'GuardRoleArns is given');
    assert.equal(parameters.GuardRoleArns?.Type, 'CommaDelimitedList');
    assert.deepEqual([parameters.ExternalId?.Default, (parameters.ExternalId as Record<string, Json>).NoEcho], ['', true]);
    assert.equal(parameters.RoleRegion?.Default, 'us-east-1');
  });

  it('creates the member role in RoleRegion only, and the forwarding rules and the document in every region', () => {
    const roleResources = (t: Template) => ofType(t, 'AWS::IAM::Role').concat(ofType(t, 'AWS::IAM::ManagedPolicy'))
      .map(([id]) => id).filter((id) => id !== 'ForwarderRole').sort();
    assert.deepEqual(roleResources(inRoleRegion), ['MemberInstancesPolicy', 'MemberLaunchCheckAndDatabasePolicy',
      'MemberNetworkAndParametersPolicy', 'MemberRole', 'MemberSecureStringsWithManagedKeyPolicy']);
    assert.deepEqual(roleResources(member), ['MemberInstancesPolicy', 'MemberLaunchCheckAndDatabasePolicy',
      'MemberNetworkAndParametersPolicy', 'MemberPassNodeRolePolicy', 'MemberRole', 'MemberSecureStringsWithManagedKeyPolicy']);
    assert.deepEqual(roleResources(memberDeployed({ NodeInstanceRoleName: 'chainlink-node' }, 'eu-west-1')), [],
      'an IAM role is global: one region creates it');
    assert.deepEqual(roleResources(elsewhere), []);
    assert.deepEqual(roleResources(memberDeployed({ RoleRegion: 'eu-west-1' }, 'eu-west-1')).length, 5);
    for (const t of [inRoleRegion, elsewhere]) {
      assert.equal(ofType(t, 'AWS::Events::Rule').length, 5);
      assert.ok(t.Resources.ForwarderRole && t.Resources.FilesystemDocument);
    }
    assert.equal(elsewhere.Outputs?.MemberRoleArn, undefined);
  });

  it('trusts only the central guard roles, with the external ID when one is given, for an hour at most', () => {
    const trust = (t: Template) => statementsIn(props(t.Resources.MemberRole).AssumeRolePolicyDocument);
    const role = props(inRoleRegion.Resources.MemberRole);
    assert.equal(role.RoleName, MEMBER_ROLE);
    assert.equal(role.MaxSessionDuration, 3600);
    assert.equal(props(memberDeployed({ MemberRoleName: 'OpsRemediator' }).Resources.MemberRole).RoleName, 'OpsRemediator');
    const [statement, ...more] = trust(inRoleRegion);
    assert.equal(more.length, 0);
    assert.deepEqual({ ...statement, Sid: undefined }, {
      Sid: undefined, Effect: 'Allow', Principal: { AWS: GUARD_ROLES }, Action: 'sts:AssumeRole',
    });
    const [withId] = trust(memberDeployed({ ExternalId: 'chainlink-ops' }));
    assert.deepEqual(withId.Condition, { StringEquals: { 'sts:ExternalId': 'chainlink-ops' } });
    assert.deepEqual((withId as Statement & { Principal: Json }).Principal, { AWS: GUARD_ROLES });
  });

  // Central statements the member role has no copy of, each with the reason.
  const NOT_MIRRORED: Record<string, string> = {
    WriteOwnLogs: "the function's logs: central",
    PublishReports: 'the report topic: central',
    PublishChatNotifications: 'the chat topic: central',
    EncryptReportsThroughSns: "the report topic's key: central",
    StoreReportPages: 'report pages: central',
    FailedInvocationsToQueue: 'the failure queue: central',
    ReadStackFileParameter: 'the stack file: central',
    ImportFindingsToSecurityHub: "Security Hub: the central account's",
    ReadApprovalKey: 'the approval key: central',
    DecryptApprovalKeyOnly: 'the approval key: central',
    // Approvals are per account, the deployment's own (the key and the handler are central),
    // never an organisation's: no member account's group records one.
    ReadApprovalTags: "approvals: the deployment's own account only, never a member's",
    RecordApprovalTagOnly: "approvals: the deployment's own account only, never a member's",
    AssumeMemberRoleInOrganizationOnly: 'STS: the member role assumes nothing',
    SendToOwnTargetQueue: 'the target queues: central',
    ConsumeOwnTargetQueue: 'the target queues: central',
    ListOrganizationAccounts: 'Organizations: central',
    ListAccountsUnderOrganizationalUnits: 'Organizations: central',
    // Subsumed: the member role's ReadTheStacksDatabase and ValidateThisStacksParameters grant
    // these actions on these resources (asserted below).
    LocateTheStacksDatabase: 'covered by ReadTheStacksDatabase',
    ReadThisStacksParametersUndecrypted: 'covered by ValidateThisStacksParameters',
  };
  const COVERED_BY: Record<string, string> = {
    LocateTheStacksDatabase: 'ReadTheStacksDatabase',
    ReadThisStacksParametersUndecrypted: 'ValidateThisStacksParameters',
  };

  for (const [name, file] of Object.entries(templateFiles)) {
    /** The central guard roles with every option on, so that every central statement appears. */
    const centralRoles = (): Array<{ fn: string; statements: Statement[] }> => {
      const options = {
        organizationId: ORG, approvalKeyParameter: APPROVAL_KEY, reportPages: true, securityHubFindings: true,
        chatTopicArn: 'arn:aws:sns:us-east-1:123456789012:ops-chatbot', stackFileSource: 'ssm',
        nodeInstanceRoleArn: `arn:aws:iam::123456789012:role/${NODE_ROLE}`,
      };
      const t = name === 'cdk'
        ? resolveTemplate(cdkTemplateWith(options))
        : resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, {
          OrganizationId: ORG, ApprovalKeyParameter: APPROVAL_KEY, ReportPages: 'true', SecurityHubFindings: 'true',
          ChatTopicArn: options.chatTopicArn, StackFileSource: 'ssm', NodeInstanceRoleArn: options.nodeInstanceRoleArn,
        });
      const grants = grantsOf(t);
      return GUARD_WORDS.map((words) => {
        const fn = grants.fnByDescription(words);
        return { fn, statements: grants.statementsOf(grants.roleOf(fn)) };
      });
    };
    /**
     * A central statement as the member role must grant it: any region ("*": one role serves
     * them all, so kms:ViaService is matched with StringLike), the member accounts' filesystem
     * document by its name, the node role by its name in the member's own account.
     */
    const generalized = (st: Statement): Statement => {
      let text = JSON.stringify(sortedStatement(st)).replaceAll('<AWS::Region>', '*');
      // (The CDK's document ARN embeds its reference as JSON: escaped quotes inside the string.)
      text = text.replace(/"arn:<AWS::Partition>:ssm:\*:<AWS::AccountId>:document\/(?:[^"\\]|\\.)*"/g,
        `"arn:<AWS::Partition>:ssm:*:<AWS::AccountId>:document/${MEMBER_DOCUMENT}"`);
      text = text.replaceAll(`arn:aws:iam::123456789012:role/${NODE_ROLE}`, `arn:<AWS::Partition>:iam::<AWS::AccountId>:role/${NODE_ROLE}`);
      const out = JSON.parse(text) as Statement;
      const via = out.Condition?.StringEquals?.['kms:ViaService'];
      if (via !== undefined && out.Condition) {
        const { 'kms:ViaService': _via, ...rest } = out.Condition.StringEquals;
        out.Condition = { ...out.Condition, StringEquals: rest, StringLike: { 'kms:ViaService': via } };
        if (Object.keys(rest).length === 0) delete out.Condition.StringEquals;
      }
      return out;
    };

    it(`grants, against the ${name} template, no action the central guard roles do not, each statement the central one but the region`, () => {
      const roles = centralRoles();
      const centralStatements = roles.flatMap((r) => r.statements);
      const mine = memberStatements(member);
      assert.ok(mine.length >= 25, 'the member statements were found');
      // Action by action: nothing the central guard roles are not granted.
      const centralActions = new Set(centralStatements.flatMap(statementActions));
      const memberActions = new Set(mine.flatMap(statementActions));
      for (const action of memberActions) assert.ok(centralActions.has(action), `the member role grants ${action}, no central guard role does`);
      // What stays central, by action.
      const stayCentral = [...centralActions].filter((a) => !memberActions.has(a)).sort();
      assert.deepEqual(stayCentral, [
        'ec2:DescribeTags', 'kms:GenerateDataKey*', 'logs:CreateLogStream', 'logs:PutLogEvents', 'organizations:ListAccounts',
        'organizations:ListAccountsForParent', 'organizations:ListChildren', 's3:PutObject', 'securityhub:BatchImportFindings',
        'sns:Publish', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', ...(name === 'cdk' ? ['sqs:GetQueueUrl'] : []),
        'sqs:ReceiveMessage', 'sqs:SendMessage', 'sts:AssumeRole',
      ]);
      // Statement by statement: each member statement is a central one of the same Sid, the
      // region generalized.
      for (const st of mine) {
        assert.ok(st.Sid, 'every member statement has a Sid');
        const same = centralStatements.filter((c) => c.Sid === st.Sid);
        assert.ok(same.length >= 1, `${st.Sid}: a central statement of that Sid`);
        assert.ok(same.some((c) => canonical(generalized(c)) === canonical(sortedStatement(st))),
          `${st.Sid}: the member statement is the central one but the region:\n${canonical(sortedStatement(st))}\n`
          + `${same.map((c) => canonical(generalized(c))).join('\n')}`);
      }
      // Every central statement is mirrored or stays central for a listed reason (a Sid-less
      // one is the CDK's grant of the failure queue to its destination).
      const mirrored = new Set(mine.map((st) => st.Sid));
      for (const c of centralStatements) {
        if (!c.Sid) {
          assert.ok(statementActions(c).every((a) => /^sqs:/.test(a)) && JSON.stringify(c.Resource).includes('FailedInvocationQueue'),
            `a central statement without a Sid: ${JSON.stringify(c)}`);
          continue;
        }
        assert.ok(mirrored.has(c.Sid) || c.Sid in NOT_MIRRORED, `${c.Sid}: neither mirrored nor listed as central`);
        assert.ok(!(mirrored.has(c.Sid) && c.Sid in NOT_MIRRORED), `${c.Sid}: mirrored and listed`);
      }
      // The covered ones: every action on every resource of theirs is granted by the member
      // statement named, under no more conditions.
      for (const [sid, by] of Object.entries(COVERED_BY)) {
        const wider = mine.find((st) => st.Sid === by);
        assert.ok(wider, by);
        for (const c of centralStatements.filter((x) => x.Sid === sid).map(generalized)) {
          for (const a of statementActions(c)) assert.ok(statementActions(wider).includes(a), `${sid}: ${a} in ${by}`);
          for (const r of statementResources(c)) {
            assert.ok(statementResources(sortedStatement(wider)).includes(String(r)), `${sid}: ${String(r)} in ${by}`);
          }
          assert.equal(wider.Condition, undefined, by);
        }
      }
    });
  }

  it('keeps every write on the stack tag, off `*`, as the central roles do, and grants nothing of the central services', () => {
    for (const st of memberStatements(member)) {
      for (const action of statementActions(st)) {
        assert.ok(!/^(sts|organizations|sqs|sns|logs|s3|securityhub|lambda|events):/i.test(action), `${st.Sid}: ${action}`);
        assert.ok(!/\*$/.test(action.split(':')[1]) || action === 'kms:GenerateDataKey*', `${st.Sid}: ${action}`);
        if (/^(Describe|Get|List)/.test(action.split(':')[1])) continue;
        assert.ok(!statementResources(st).includes('*'), `${st.Sid}: ${action} on *`);
      }
    }
    assert.ok(!memberStatements(member).some((st) => statementActions(st).includes('iam:PassRole')
      && !statementResources(st).every((r) => String(r).endsWith(':role/chainlink-node'))), 'PassRole of the node role only');
    assert.ok(!memberStatements(inRoleRegion).some((st) => statementActions(st).includes('iam:PassRole')), 'no PassRole without a node role');
    // A customer key for SecureStrings: that key, through Parameter Store only.
    const key = 'arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const kms = memberStatements(memberDeployed({ SsmKmsKeyArn: key })).filter((st) => statementActions(st).some((a) => a.startsWith('kms:')));
    assert.deepEqual(kms.map((st) => [st.Sid, statementResources(st), st.Condition]),
      [['SecureStringsWithKey', [key], { StringLike: { 'kms:ViaService': 'ssm.*.amazonaws.com' } }]]);
  });

  it('forwards, from the default bus, exactly the events the central functions handle, by the same patterns', () => {
    const rules = (t: Template) => ofType(t, 'AWS::Events::Rule');
    for (const [name, file] of Object.entries(templateFiles)) {
      const centralOn = name === 'cdk'
        ? resolveTemplate(cdkTemplateWith({ organizationId: ORG }))
        : resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, { OrganizationId: ORG });
      assert.deepEqual(defaultBusPatterns(elsewhere), defaultBusPatterns(centralOn), name);
      // A deployment's own parameter path, in both.
      const centralPath = name === 'cdk'
        ? resolveTemplate(cdkTemplateWith({ organizationId: ORG, parameterPath: '/nodes/demo' }))
        : resolveTemplate(JSON.parse(fs.readFileSync(file, 'utf8')) as Template, { OrganizationId: ORG, ParameterPath: '/nodes/demo' });
      assert.deepEqual(defaultBusPatterns(memberDeployed({ ParameterPath: '/nodes/demo' }, 'eu-west-1')), defaultBusPatterns(centralPath), name);
    }
    for (const [id, rule] of rules(elsewhere)) {
      assert.equal(props(rule).EventBusName, undefined, `${id}: the default bus`);
      assert.equal(props(rule).ScheduleExpression, undefined, id);
      // (cfn-include reads `!GetAtt ForwarderRole.Arn` as one string.)
      assert.deepEqual(props(rule).Targets, [{ Id: 'CentralBus', Arn: CENTRAL_BUS, RoleArn: { 'Fn::GetAtt': 'ForwarderRole.Arn' } }], id);
    }
  });

  it('lets the forwarding role put events on the central bus only, and be used by EventBridge of this account only', () => {
    const role = props(elsewhere.Resources.ForwarderRole);
    assert.deepEqual(statementsIn(role.AssumeRolePolicyDocument), [{
      Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
    }]);
    assert.equal(role.ManagedPolicyArns, undefined);
    const statements = ((role.Policies as Json[]) ?? []).flatMap((p) => statementsIn(isObject(p) ? p.PolicyDocument : null));
    assert.deepEqual(statements, [{ Sid: 'PutEventsOnCentralBusOnly', Effect: 'Allow', Action: 'events:PutEvents', Resource: CENTRAL_BUS }]);
    assert.equal(role.RoleName, undefined, 'CloudFormation names it: one per region');
  });

  it("ships the central filesystem document's content, under the name instance-guard is told", () => {
    const document = props(elsewhere.Resources.FilesystemDocument);
    assert.deepEqual(document.Content, FILESYSTEM_DOCUMENT_CONTENT);
    assert.deepEqual([document.Name, document.DocumentType, document.TargetType, document.UpdateMethod],
      [MEMBER_DOCUMENT, 'Command', '/AWS::EC2::Instance', 'NewVersion']);
    const send = memberStatements(inRoleRegion).filter((st) => statementActions(st).includes('ssm:SendCommand'));
    assert.deepEqual(send.map((st) => [st.Sid, statementResources(st)]), [
      ['FilesystemDocumentOnly', [`arn:<AWS::Partition>:ssm:*:<AWS::AccountId>:document/${MEMBER_DOCUMENT}`]],
      ['RunCommandOnInstancesOfThisStackOnly', ['arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*']],
    ]);
  });
});
