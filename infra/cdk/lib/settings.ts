// The deployment's settings: read once from CDK context (cdk.json, or `-c key=value` on the
// command line) and validated here, so that the stack only ever sees well-formed values. They
// mirror the parameters of infra/sam/template.yaml.

import * as path from 'node:path';
import { Node } from 'constructs';

export type Mode = 'report' | 'enforce';
export type StackFileSource = 'bundled' | 'ssm';

export interface RemediatorSettings {
  /** The guarded stack: the value of the chainlink:stack tag on its resources. */
  readonly stackName: string;
  readonly mode: Mode;
  readonly stackFileSource: StackFileSource;
  /** Absolute path of the stack file copied next to each binary (bundled source). */
  readonly stackFile: string;
  /** SSM String parameter holding the stack file (ssm source). */
  readonly stackFileParameterName: string;
  /** Parameter Store path of the node's parameters, without the trailing slash. */
  readonly parameterPath: string;
  readonly securityGroupSweepSchedule: string;
  readonly parameterSweepSchedule: string;
  /** An existing report topic; empty creates one. */
  readonly notificationTopicArn: string;
  readonly notificationTopicKmsKeyArn: string;
  /** A topic subscribed to AWS Chatbot: each report also goes there as a custom notification. */
  readonly chatTopicArn: string;
  readonly logRetentionDays: number;
  readonly logKmsKeyArn: string;
  /** KMS key of the SecureString parameters; empty means the AWS-managed alias/aws/ssm. */
  readonly ssmKmsKeyArn: string;
  /** Role of the node's instance profile, passed when a group moves to a new template version. */
  readonly nodeInstanceRoleArn: string;
  readonly createAlarms: boolean;
  /** Import each run's findings into this account's Security Hub (BatchImportFindings). */
  readonly securityHubFindings: boolean;
  /**
   * Keep each report the three functions publish also as an HTML page in a bucket of the stack,
   * linked from the notification (S3 console address); ReportPageDays, a deploy-time parameter,
   * says how long.
   */
  readonly reportPages: boolean;
  readonly alarmRole: string;
  readonly autoScalingGroupName: string;
  readonly nodeInstanceIds: string[];
  /** With createAlarms: the stack's RDS instance to alarm on (free storage, CPU, memory, connections). */
  readonly databaseInstanceId: string;
  /**
   * The SSM SecureString parameter holding the approval signing key (the stack file's
   * [approvals] key_parameter); empty: approvals off, no approval-handler.
   */
  readonly approvalKeyParameter: string;
  /**
   * The AWS Organizations ID (o-...) whose member accounts the deployment guards too, through
   * the member role of infra/member/template.yaml; empty: this account and region only. Set,
   * it adds the target queues, the members' event bus and the permission to assume the member
   * role (MemberRoleName, TargetAttempts and TargetConcurrency are then deploy-time parameters).
   */
  readonly organizationId: string;
}

const STACK_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const PARAMETER_PATH = /^(\/[A-Za-z0-9_.-]+)+$/;
const PARAMETER_NAME = /^\/[A-Za-z0-9_.\-/]+$/;
const RATE = /^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$/;
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const DB_INSTANCE_ID = /^[A-Za-z][A-Za-z0-9-]{0,62}$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[a-f0-9-]+$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9+=,.@_/-]+$/;
const ROLE = /^[A-Za-z0-9_-]+$/;
const ORGANIZATION_ID = /^o-[a-z0-9]{10,32}$/;
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
  3288, 3653,
];

/** Reads and validates the settings; every problem is reported at once, naming its key. */
export function settingsFromContext(node: Node, baseDir: string): RemediatorSettings {
  const problems: string[] = [];
  const text = (key: string, fallback = ''): string => {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string') {
      problems.push(`${key}: expected a string, got ${JSON.stringify(value)}`);
      return fallback;
    }
    return value;
  };
  const checked = (key: string, value: string, pattern: RegExp, optional: boolean): string => {
    if ((value !== '' || !optional) && !pattern.test(value)) {
      problems.push(`${key}: ${JSON.stringify(value)} does not match ${pattern}`);
    }
    return value;
  };
  const oneOf = <T extends string>(key: string, value: string, allowed: readonly T[]): T => {
    if (!(allowed as readonly string[]).includes(value)) {
      problems.push(`${key}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
      return allowed[0];
    }
    return value as T;
  };

  const stackName = checked('stackName', text('stackName', 'demo'), STACK_NAME, false);
  const createAlarmsRaw: unknown = node.tryGetContext('createAlarms') ?? false;
  const createAlarms = createAlarmsRaw === true || createAlarmsRaw === 'true';
  if (![true, false, 'true', 'false'].includes(createAlarmsRaw as never)) {
    problems.push(`createAlarms: expected true or false, got ${JSON.stringify(createAlarmsRaw)}`);
  }
  const securityHubRaw: unknown = node.tryGetContext('securityHubFindings') ?? false;
  const securityHubFindings = securityHubRaw === true || securityHubRaw === 'true';
  if (![true, false, 'true', 'false'].includes(securityHubRaw as never)) {
    problems.push(`securityHubFindings: expected true or false, got ${JSON.stringify(securityHubRaw)}`);
  }
  const reportPagesRaw: unknown = node.tryGetContext('reportPages') ?? false;
  const reportPages = reportPagesRaw === true || reportPagesRaw === 'true';
  if (![true, false, 'true', 'false'].includes(reportPagesRaw as never)) {
    problems.push(`reportPages: expected true or false, got ${JSON.stringify(reportPagesRaw)}`);
  }
  const retentionRaw: unknown = node.tryGetContext('logRetentionDays') ?? 30;
  const logRetentionDays = Number(retentionRaw);
  if (!RETENTION_DAYS.includes(logRetentionDays)) {
    problems.push(`logRetentionDays: ${JSON.stringify(retentionRaw)} is not a CloudWatch Logs retention`);
  }
  const idsRaw: unknown = node.tryGetContext('nodeInstanceIds') ?? [];
  const nodeInstanceIds = (
    Array.isArray(idsRaw) ? idsRaw.map(String) : String(idsRaw).split(',')
  )
    .map((id) => id.trim())
    .filter((id) => id !== '');
  for (const id of nodeInstanceIds) checked('nodeInstanceIds', id, INSTANCE_ID, false);

  const parameterPath =
    checked('parameterPath', text('parameterPath'), PARAMETER_PATH, true) ||
    `/chainlink/${stackName}`;
  const stackFileParameterName =
    checked('stackFileParameterName', text('stackFileParameterName'), PARAMETER_NAME, true) ||
    `/chainlink-remediator/${stackName}/stack.toml`;

  const settings: RemediatorSettings = {
    stackName,
    mode: oneOf('mode', text('mode', 'report'), ['report', 'enforce'] as const),
    stackFileSource: oneOf('stackFileSource', text('stackFileSource', 'bundled'), [
      'bundled',
      'ssm',
    ] as const),
    stackFile: path.resolve(baseDir, text('stackFile', '../../samples/stack.toml')),
    stackFileParameterName,
    parameterPath,
    securityGroupSweepSchedule: checked(
      'securityGroupSweepSchedule',
      text('securityGroupSweepSchedule', 'rate(15 minutes)'),
      RATE,
      false,
    ),
    parameterSweepSchedule: checked(
      'parameterSweepSchedule',
      text('parameterSweepSchedule', 'rate(1 hour)'),
      RATE,
      false,
    ),
    notificationTopicArn: checked('notificationTopicArn', text('notificationTopicArn'), TOPIC_ARN, true),
    chatTopicArn: checked('chatTopicArn', text('chatTopicArn'), TOPIC_ARN, true),
    notificationTopicKmsKeyArn: checked(
      'notificationTopicKmsKeyArn',
      text('notificationTopicKmsKeyArn'),
      KMS_KEY_ARN,
      true,
    ),
    logRetentionDays,
    logKmsKeyArn: checked('logKmsKeyArn', text('logKmsKeyArn'), KMS_KEY_ARN, true),
    ssmKmsKeyArn: checked('ssmKmsKeyArn', text('ssmKmsKeyArn'), KMS_KEY_ARN, true),
    nodeInstanceRoleArn: checked('nodeInstanceRoleArn', text('nodeInstanceRoleArn'), ROLE_ARN, true),
    createAlarms,
    securityHubFindings,
    reportPages,
    alarmRole: checked('alarmRole', text('alarmRole', 'node'), ROLE, false),
    autoScalingGroupName: text('autoScalingGroupName'),
    nodeInstanceIds,
    databaseInstanceId: checked('databaseInstanceId', text('databaseInstanceId'), DB_INSTANCE_ID, true),
    approvalKeyParameter: checked('approvalKeyParameter', text('approvalKeyParameter'), PARAMETER_NAME, true),
    organizationId: checked('organizationId', text('organizationId'), ORGANIZATION_ID, true),
  };
  if (problems.length > 0) {
    throw new Error(`invalid context settings:\n  ${problems.join('\n  ')}`);
  }
  return settings;
}
