// The CDK counterpart of infra/sam/template.yaml: the three remediation functions of one
// Chainlink stack, their event wiring, least-privilege roles, failure queue, alarms, report
// topic and dashboard, optionally the approval handler behind a function URL and a bucket of
// report pages. Every mutating permission on the guarded stack is conditioned on the resource's
// tag chainlink:stack = <stack name>, so one deployment can only ever touch its own stack (with
// an organisation, that stack in the member accounts too, through infra/member/template.yaml).

import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ArnFormat,
  CfnOutput,
  CfnParameter,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  StackProps,
  Tags,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { RemediatorSettings } from './settings';

export const METRICS_NAMESPACE = 'ChainlinkRemediator';

/** Metric names the functions write as Embedded Metric Format lines (dimension Stack). */
export const REMEDIATION_METRICS = [
  'DriftFound',
  'ActionsPlanned',
  'ActionsApplied',
  'ActionsFailed',
  'ActionsSkipped',
  'RemediationsRefused',
] as const;
export const PARAMETER_METRICS = [
  'ParameterFindingsCritical',
  'ParameterFindingsError',
  'ParameterFindingsWarning',
  'ParameterFindingsInfo',
] as const;

export const SECURITY_GROUP_EVENT_NAMES = [
  'AuthorizeSecurityGroupIngress',
  'AuthorizeSecurityGroupEgress',
  'RevokeSecurityGroupIngress',
  'RevokeSecurityGroupEgress',
  'ModifySecurityGroupRules',
  'CreateSecurityGroup',
  'UpdateSecurityGroupRuleDescriptionsIngress',
  'UpdateSecurityGroupRuleDescriptionsEgress',
];

/**
 * The engine's mount-path rule (MOUNT_PATH_PATTERN and MOUNT_PATH_MAX_CHARS in
 * shared/domain/src/instances/plan.rs; the template tests check they are equal): Systems Manager
 * refuses any other `mountPath` before the document runs.
 */
export const MOUNT_PATH_PATTERN = '^/([A-Za-z0-9/_-]|\\.[A-Za-z0-9/_-])*\\.?$';
export const MOUNT_PATH_MAX_CHARS = 256;

/**
 * The stack's own Run Command document (SAM: FilesystemDocument, the same content): grows the
 * partition (growpart) and the ext4/XFS filesystem mounted at its one parameter, and nothing
 * else. The path reaches the script only as the environment variable SSM_mountPath
 * (interpolationType ENV_VAR), never spliced into the script's text; an SSM Agent too old to
 * pass it leaves it unset and the script stops before doing anything.
 */
export const FILESYSTEM_DOCUMENT_CONTENT = {
  schemaVersion: '2.2',
  description:
    'chainlink-remediator: grow the partition and the ext4/XFS filesystem mounted at mountPath after its EBS volume grew. Nothing else.',
  parameters: {
    mountPath: {
      type: 'String',
      description: 'The mount path of the filesystem to extend (absolute; letters, digits and / _ . - only; no "..").',
      allowedPattern: MOUNT_PATH_PATTERN,
      maxChars: MOUNT_PATH_MAX_CHARS,
      interpolationType: 'ENV_VAR',
    },
  },
  mainSteps: [
    {
      action: 'aws:runShellScript',
      name: 'extendFilesystem',
      precondition: { StringEquals: ['platformType', 'Linux'] },
      inputs: {
        timeoutSeconds: '600',
        runCommand: [
          'set -eu',
          'mount_path="${SSM_mountPath:?this SSM Agent does not pass parameters as environment variables (interpolationType ENV_VAR): update it}"',
          'source=$(findmnt -n -o SOURCE --target "$mount_path")',
          'fstype=$(findmnt -n -o FSTYPE --target "$mount_path")',
          'disk=$(lsblk -n -o PKNAME "$source" | head -n 1)',
          'part=$(cat "/sys/class/block/$(basename "$source")/partition" 2>/dev/null || true)',
          'if [ -n "$disk" ] && [ -n "$part" ]; then growpart "/dev/$disk" "$part" || true; fi',
          'case "$fstype" in xfs) xfs_growfs -d "$mount_path" ;; ext2|ext3|ext4) resize2fs "$source" ;; *) echo "cannot extend $fstype at $mount_path" >&2; exit 1 ;; esac',
        ],
      },
    },
  ],
};

export interface RemediatorStackProps extends StackProps {
  readonly settings: RemediatorSettings;
  /** The Cargo workspace holding the function crates (the repository root). */
  readonly workspaceDir: string;
}

/** One function's fixed traits: the binary, what it does, how long it may take. */
interface FunctionSpec {
  readonly id: string;
  readonly binary: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly maxEventAge: Duration;
  /** A name of our own, where another resource must name the function before it exists. */
  readonly functionName?: string;
}

export class RemediatorStack extends Stack {
  readonly functions: Record<'securityGroups' | 'parameters' | 'instances', lambda.IFunction>;

  constructor(scope: Construct, id: string, props: RemediatorStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const tagCondition = { StringEquals: { 'aws:ResourceTag/chainlink:stack': s.stackName } };
    const arn = (service: string, resource: string, resourceName: string, account?: string) =>
      this.formatArn({ service, resource, resourceName, account });

    // ---- Reports and notifications ------------------------------------------------------
    // A customer-managed key rather than alias/aws/sns: CloudWatch alarms cannot publish to a
    // topic encrypted with the AWS-managed key (its key policy cannot grant the service).
    let topic: sns.ITopic;
    let topicKey: kms.IKey | undefined;
    if (s.notificationTopicArn === '') {
      const key = new kms.Key(this, 'ReportTopicKey', {
        description: `Encrypts the chainlink-remediator report topic of stack ${s.stackName}.`,
        enableKeyRotation: true,
        alias: `alias/chainlink-remediator/${s.stackName}/reports`,
        removalPolicy: RemovalPolicy.DESTROY,
        pendingWindow: Duration.days(7),
      });
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsPublishToTopic',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
        }),
      );
      const created = new sns.Topic(this, 'ReportTopic', {
        displayName: `chainlink-remediator ${s.stackName}`,
        masterKey: key,
        enforceSSL: true,
      });
      created.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsOfThisAccount',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [created.topicArn],
          conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
        }),
      );
      topic = created;
      topicKey = key;
    } else {
      topic = sns.Topic.fromTopicArn(this, 'ReportTopic', s.notificationTopicArn);
      if (s.notificationTopicKmsKeyArn !== '') {
        topicKey = kms.Key.fromKeyArn(this, 'ReportTopicKey', s.notificationTopicKmsKeyArn);
      }
    }

    // Where an invocation lands after Lambda gave up on it (retries exhausted or too old).
    const failedInvocations = new sqs.Queue(this, 'FailedInvocationQueue', {
      // The AWS-managed key: only the functions' roles (same account, through SQS) write here.
      encryption: sqs.QueueEncryption.KMS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: a failed remediation is investigated, not dropped.
      retentionPeriod: Duration.days(14),
    });
    Validations.of(failedInvocations).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the failure destination of the three functions (EventInvokeConfig OnFailure); a queue behind it would only move the messages.',
    });

    // ---- Report pages (reportPages) --------------------------------------------------------
    // Each report the three functions publish is also kept as a self-contained HTML page,
    // reports/<stack>/<time>-<signal id>.html, and the notification links to it by the object's
    // S3 console address. The reader opens it with their own AWS sign-in (s3:GetObject on this
    // bucket): never public, and not presigned, since a URL signed with a function's session
    // credentials dies with the session (hours). So a link works as long as its page exists:
    // the lifecycle (ReportPageDays) decides.
    const reportPages = s.reportPages ? this.addReportPagesBucket() : undefined;

    // ---- What every function needs -------------------------------------------------------
    // (sqs:SendMessage on the failure queue is granted by the function's SqsDestination.)
    const commonStatements: iam.PolicyStatement[] = [
      new iam.PolicyStatement({
        sid: 'PublishReports',
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
      }),
    ];
    if (reportPages) {
      // A new page under reports/, and nothing else of S3: no read, list, ACL, tag or delete
      // (the reader's own sign-in reads it).
      commonStatements.push(
        new iam.PolicyStatement({
          sid: 'StoreReportPages',
          actions: ['s3:PutObject'],
          resources: [`arn:${this.partition}:s3:::${reportPages.bucketName}/reports/*`],
        }),
      );
    }
    if (s.chatTopicArn !== '') {
      commonStatements.push(
        new iam.PolicyStatement({
          sid: 'PublishChatNotifications',
          actions: ['sns:Publish'],
          resources: [s.chatTopicArn],
        }),
      );
    }
    if (topicKey) {
      commonStatements.push(
        new iam.PolicyStatement({
          sid: 'EncryptReportsThroughSns',
          actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          resources: [topicKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `sns.${this.region}.amazonaws.com` } },
        }),
      );
    }
    // approval-handler reads the stack file as the others do, with the same statement.
    const readStackFile = (): iam.PolicyStatement[] =>
      s.stackFileSource === 'ssm'
        ? [
            new iam.PolicyStatement({
              sid: 'ReadStackFileParameter',
              actions: ['ssm:GetParameter'],
              resources: [arn('ssm', 'parameter', s.stackFileParameterName.slice(1))],
            }),
          ]
        : [];
    commonStatements.push(...readStackFile());
    if (s.stackFileSource === 'bundled' && !fs.existsSync(s.stackFile)) {
      throw new Error(`stackFile ${s.stackFile} does not exist (context "stackFile")`);
    }

    const relativeStackFile = path.relative(props.workspaceDir, s.stackFile);
    const stackFileIn = (inputDir: string) =>
      relativeStackFile.startsWith('..') || path.isAbsolute(relativeStackFile)
        ? s.stackFile
        : path.posix.join(inputDir, ...relativeStackFile.split(path.sep));

    const vpcIds = stackVpcIds(this);
    const stackFileEnvironment: Record<string, string> =
      s.stackFileSource === 'bundled'
        ? { STACK_FILE: '/var/task/stack.toml' }
        : { STACK_FILE_PARAMETER: s.stackFileParameterName };
    const environment: Record<string, string> = {
      REMEDIATOR_MODE: s.mode,
      // The engine checks the stack file's vpcs against the VPCs IAM lets it write in.
      STACK_VPC_IDS: Fn.join(',', vpcIds),
      REPORT_TOPIC_ARN: topic.topicArn,
      ...(s.chatTopicArn !== '' ? { CHAT_TOPIC_ARN: s.chatTopicArn } : {}),
      ...(s.securityHubFindings ? { SECURITY_HUB_ACCOUNT_ID: this.account } : {}),
      ...(reportPages ? { REPORT_BUCKET: reportPages.bucketName } : {}),
      METRICS_NAMESPACE,
      ...stackFileEnvironment,
    };

    // cdk-nag's IAM5 flags every wildcard; each one a role keeps is acknowledged on that role,
    // with the reason it cannot be narrower.
    const wildcard = wildcardReasons(s);
    const functionLogs = (id: string, binary: string) =>
      new logs.LogGroup(this, `${id}Logs`, {
        logGroupName: `/chainlink-remediator/${s.stackName}/${binary}`,
        retention: s.logRetentionDays as logs.RetentionDays,
        encryptionKey:
          s.logKmsKeyArn === '' ? undefined : kms.Key.fromKeyArn(this, `${id}LogKey`, s.logKmsKeyArn),
        removalPolicy: RemovalPolicy.DESTROY,
      });
    // ---- An organisation (organizationId) -------------------------------------------------
    // The member accounts' stacks too, through the role each member's StackSet instance creates
    // (infra/member/template.yaml). Each guard function gets a FIFO target queue, the only way
    // work reaches a target, consumed through an event source mapping; one bus takes the
    // members' events (below). The deploy-time parameters exist only then, as in SAM.
    const organization = s.organizationId !== '' ? this.organizationParameters(s) : undefined;
    const organizationTargets: Array<{ role: iam.IRole; queue: sqs.Queue }> = [];
    const notify = new cloudwatchActions.SnsAction(topic);

    const rustBuild = (binary: string) => ({
      // The workspace manifest and the binary's name: the crates depend on `shared` by path,
      // so the build (local or in Docker) must see the whole workspace.
      manifestPath: `${props.workspaceDir}/Cargo.toml`,
      binaryName: binary,
      architecture: lambda.Architecture.ARM_64,
      bundling: {
        architecture: lambda.Architecture.ARM_64,
        commandHooks: {
          beforeBundling: () => [],
          // The bundled stack file travels next to the binary (/var/task/stack.toml). Inside
          // the workspace it is named from the build's input directory, which Docker bundling
          // mounts elsewhere; a file outside the workspace works with local bundling only.
          afterBundling: (inputDir: string, outputDir: string) =>
            s.stackFileSource === 'bundled'
              ? [`cp "${stackFileIn(inputDir)}" "${outputDir}/stack.toml"`]
              : [],
        },
      },
    });
    const makeFunction = (
      spec: FunctionSpec,
      statements: iam.PolicyStatement[],
      wildcards: Array<keyof typeof wildcard>,
      ownEnvironment: Record<string, string> = {},
    ) => {
      const logGroup = functionLogs(spec.id, spec.binary);
      const role = new iam.Role(this, `${spec.id}Role`, {
        description: `chainlink-remediator ${spec.binary} of stack ${s.stackName}`,
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        inlinePolicies: {
          [spec.binary]: new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({
                sid: 'WriteOwnLogs',
                actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
                resources: [logGroup.logGroupArn],
              }),
              ...commonStatements,
              ...statements,
            ],
          }),
        },
      });
      // What every function's statements above add: the topic key's actions, the pages' keys.
      const common = [
        ...(topicKey ? (['topicKeyActions'] as const) : []),
        ...(reportPages ? (['reportPages'] as const) : []),
      ];
      for (const finding of [...wildcards, ...common]) {
        const [id, reason] = wildcard[finding];
        Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[${id}]`, reason });
      }
      const fn = new RustFunction(this, spec.id, {
        ...rustBuild(spec.binary),
        functionName: spec.functionName,
        description: spec.description,
        role,
        // The binaries are a few MB and work on one stack's worth of resources at a time.
        memorySize: 256,
        timeout: spec.timeout,
        // One remediation at a time per stack: a second concurrent run would plan against state
        // the first is changing. Asynchronous invocations that find the function busy wait in
        // Lambda's queue and are retried until maxEventAge (throttles are not retry attempts).
        // With an organisation the guarantee moves from the function to the target (one account
        // and region): every piece of work for a target, a sweep's fan-out message or an event a
        // member forwarded, goes to the function's own FIFO target queue with MessageGroupId
        // "<account>/<region>", and SQS hands out no message of a group while an earlier one of
        // that group is in flight. So two remediations of one target never overlap within a
        // function, while different targets run side by side, up to TargetConcurrency (the
        // queue's maximum concurrency, and the reserved concurrency here, which the invocations
        // that only enqueue share).
        reservedConcurrentExecutions: organization ? organization.targetConcurrency : 1,
        environment: { ...environment, ...ownEnvironment },
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
        systemLogLevelV2: lambda.SystemLogLevel.WARN,
        // The handler fails only on errors a retry can fix (throttling, 5xx): two is the most
        // Lambda allows. After that, or once too old, the event goes to the failure queue.
        retryAttempts: 2,
        maxEventAge: spec.maxEventAge,
        onFailure: new destinations.SqsDestination(failedInvocations),
      });
      if (organization) {
        const queue = this.addTargetQueue(spec, fn, role, organization, notify);
        organizationTargets.push({ role, queue });
      }
      return fn;
    };

    // What both security-group-guard and parameter-guard (when a parameter change moves a port)
    // observe and repair. One constructor each, so the two roles cannot drift apart; the
    // template tests check the SAM template's copies are equal too.
    // Describe calls support no resource-level permissions.
    const observeNetwork = () =>
      new iam.PolicyStatement({
        sid: 'ObserveNetwork',
        actions: [
          'ec2:DescribeSecurityGroups',
          'ec2:DescribeInstances',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DescribeNetworkAcls',
        ],
        resources: ['*'],
      });
    const repairRulesOfThisStackOnly = () =>
      new iam.PolicyStatement({
        sid: 'RepairRulesOfThisStackOnly',
        actions: ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress'],
        resources: [arn('ec2', 'security-group', '*')],
        // Anyone may tag a group of their own into the stack; only the stack's VPCs (the
        // StackVpcIds parameter, given at deploy time) hold its groups.
        conditions: { ...tagCondition, ArnLike: { 'ec2:Vpc': stackVpcArnPatterns(vpcIds) } },
      });
    // What both parameter-guard and instance-guard read of the stack's database: its instance
    // (found by the tags DescribeDBInstances returns) and its parameter group.
    const readTheStacksDatabase = () =>
      new iam.PolicyStatement({
        sid: 'ReadTheStacksDatabase',
        actions: ['rds:DescribeDBInstances', 'rds:DescribeDBClusters', 'rds:DescribeDBParameters'],
        resources: ['db', 'cluster', 'pg'].map((resource) =>
          this.formatArn({ service: 'rds', resource, resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
        ),
      });
    // The path itself (GetParametersByPath is authorized on it) and everything below.
    const parameterPathName = s.parameterPath.slice(1);
    const parameterPathArns = [
      arn('ssm', 'parameter', parameterPathName),
      arn('ssm', 'parameter', `${parameterPathName}/*`),
    ];
    // What security-group-guard (GetParametersByPath and GetParameters) and instance-guard
    // (GetParametersByPath only) read of the stack's parameters: the values as stored, never
    // decrypted. Neither role has kms:Decrypt through Parameter Store, so SecureString values
    // come back encrypted and a stolen role never reads the node's secrets.
    const readThisStacksParametersUndecrypted = (actions: string[]) =>
      new iam.PolicyStatement({
        sid: 'ReadThisStacksParametersUndecrypted',
        actions,
        resources: parameterPathArns,
      });

    // SecurityHubFindings: a function's findings go to the account's own product. Not
    // instance-guard's: its reports carry none (remediations are operations).
    const importFindings = (): iam.PolicyStatement[] =>
      s.securityHubFindings
        ? [
            new iam.PolicyStatement({
              sid: 'ImportFindingsToSecurityHub',
              actions: ['securityhub:BatchImportFindings'],
              resources: [
                this.formatArn({ service: 'securityhub', resource: 'product', resourceName: `${this.account}/default` }),
              ],
            }),
          ]
        : [];

    // ---- Approvals (approvalKeyParameter) ------------------------------------------------
    // A remediation or security-group plan the stack file makes wait for a person is reported
    // with an approve and a deny link, <APPROVAL_URL>?token=<signed token>, which
    // approval-handler serves and hands to the function that owns it. The handler must name
    // instance-guard and security-group-guard, and they the handler's URL: both by reference
    // would be a dependency cycle, so the two get names of their own, known here.
    const approvals = s.approvalKeyParameter !== '';
    const instanceGuardName = `${this.stackName}-instance-guard`;
    const securityGroupGuardName = `${this.stackName}-security-group-guard`;
    for (const [binary, name] of [['instance-guard', instanceGuardName], ['security-group-guard', securityGroupGuardName]]) {
      if (approvals && name.length > 64) {
        throw new Error(
          `approvalKeyParameter: ${binary} is then named ${name}, longer than Lambda's 64 characters: use a shorter stackName`,
        );
      }
    }
    const approvalKeyArn = arn('ssm', 'parameter', s.approvalKeyParameter.slice(1));
    // What approval-handler, instance-guard and security-group-guard (which verify a token
    // again) read: the key parameter by its exact ARN, and kms:Decrypt only for that
    // parameter's value (Parameter Store's encryption context names the parameter), only
    // through Parameter Store. The guards' reads under the stack's path stay undecrypted.
    const readApprovalKey = (): iam.PolicyStatement[] => [
      new iam.PolicyStatement({
        sid: 'ReadApprovalKey',
        actions: ['ssm:GetParameter'],
        resources: [approvalKeyArn],
      }),
      new iam.PolicyStatement({
        sid: 'DecryptApprovalKeyOnly',
        actions: ['kms:Decrypt'],
        resources: [s.ssmKmsKeyArn === '' ? arn('kms', 'key', '*') : s.ssmKmsKeyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `ssm.${this.region}.amazonaws.com`,
            'kms:EncryptionContext:PARAMETER_ARN': approvalKeyArn,
          },
          ...(s.ssmKmsKeyArn === '' ? { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/aws/ssm' } } : {}),
        },
      }),
    ];
    const approvalKeyWildcards: Array<keyof typeof wildcard> = s.ssmKmsKeyArn === '' ? ['approvalKey'] : [];

    // ---- security-group-guard ------------------------------------------------------------
    const securityGroups = makeFunction(
      {
        id: 'SecurityGroupGuard',
        binary: 'security-group-guard',
        description: 'Repairs security-group drift of one Chainlink stack (CloudTrail, AWS Config, sweep).',
        timeout: Duration.seconds(120),
        // Older than 30 minutes: the sweep has re-checked every group since.
        maxEventAge: Duration.seconds(1800),
        functionName: approvals ? securityGroupGuardName : undefined,
      },
      [
        ...importFindings(),
        observeNetwork(),
        // Sweeps read the load balancers in front of the stack's instances (a third party's,
        // untagged) to report world exposures; never changed. No resource-level permissions.
        new iam.PolicyStatement({
          sid: 'ObserveLoadBalancers',
          actions: [
            'elasticloadbalancing:DescribeLoadBalancers',
            'elasticloadbalancing:DescribeListeners',
            'elasticloadbalancing:DescribeTargetGroups',
            'elasticloadbalancing:DescribeTargetHealth',
          ],
          resources: ['*'],
        }),
        repairRulesOfThisStackOnly(),
        // A flow may take its port from the node's configuration (the P2P port from
        // P2P.V2.ListenAddresses in config.toml). No kms:Decrypt of them (with approvals, only the
        // approval key's value decrypts, below): SecureString values come back encrypted, so a
        // stolen role never reads the node's secrets, and a port taken from one
        // (the database URL) is resolved by parameter-guard and the CLI only. Neither
        // GetParameter nor GetParameterHistory: ports come from the current values under the path.
        readThisStacksParametersUndecrypted(['ssm:GetParametersByPath', 'ssm:GetParameters']),
        // The flow check locates the stack's RDS database ([database]) by the groups it wears
        // and the subnets of its DB subnet group, both in DescribeDBInstances's answer (which
        // carries the tags that find it); an Aurora member's cluster endpoints come with
        // DescribeDBClusters. Not its parameter group.
        new iam.PolicyStatement({
          sid: 'LocateTheStacksDatabase',
          actions: ['rds:DescribeDBInstances', 'rds:DescribeDBClusters'],
          resources: ['db', 'cluster'].map((resource) =>
            this.formatArn({ service: 'rds', resource, resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
          ),
        }),
        // With approvals: a security-group plan that waits (over the change limit, or opening a
        // rule in production) is reported with signed links, and an approval's token is
        // verified again here. The key only, as instance-guard reads it.
        ...(approvals ? readApprovalKey() : []),
        // With approvals: an approved plan's single use is recorded before any rule changes, as
        // the approval's nonce in the chainlink:approval tag of each group the plan changes (the
        // last 8 kept): one DescribeTags for the nonces already there (no resource-level
        // permissions), one CreateTags per group. That tag key and no other (ForAllValues passes
        // a request naming no key, hence the Null), on the stack's groups in the stack's VPCs
        // only, as RepairRulesOfThisStackOnly. At worst a stolen role marks an approval used: a
        // refusal, never a rule change.
        ...(approvals
          ? [
              new iam.PolicyStatement({
                sid: 'ReadApprovalTags',
                actions: ['ec2:DescribeTags'],
                resources: ['*'],
              }),
              new iam.PolicyStatement({
                sid: 'RecordApprovalTagOnly',
                actions: ['ec2:CreateTags'],
                resources: [arn('ec2', 'security-group', '*')],
                conditions: {
                  ...tagCondition,
                  'ForAllValues:StringEquals': { 'aws:TagKeys': ['chainlink:approval'] },
                  Null: { 'aws:TagKeys': 'false' },
                  ArnLike: { 'ec2:Vpc': stackVpcArnPatterns(vpcIds) },
                },
              }),
            ]
          : []),
      ],
      ['describe', 'securityGroups', 'parameterPath', 'database', 'clusters', ...(approvals ? approvalKeyWildcards : [])],
    );
    // Each pattern serves the default bus here and, with an organisation, the members' bus.
    const securityGroupApiCall: events.EventPattern = {
      source: ['aws.ec2'],
      detailType: ['AWS API Call via CloudTrail'],
      detail: { eventSource: ['ec2.amazonaws.com'], eventName: SECURITY_GROUP_EVENT_NAMES },
    };
    const securityGroupConfigChange: events.EventPattern = {
      source: ['aws.config'],
      detailType: ['Config Configuration Item Change'],
      // Large items arrive as an oversized notification, with a summary for the item.
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
    };
    new events.Rule(this, 'SecurityGroupApiCall', {
      description: `chainlink-remediator ${s.stackName}: security-group API calls (CloudTrail)`,
      eventPattern: securityGroupApiCall,
      targets: [new targets.LambdaFunction(securityGroups)],
    });
    new events.Rule(this, 'SecurityGroupConfigChange', {
      description: `chainlink-remediator ${s.stackName}: security-group configuration items (AWS Config)`,
      eventPattern: securityGroupConfigChange,
      targets: [new targets.LambdaFunction(securityGroups)],
    });
    new events.Rule(this, 'SecurityGroupSweep', {
      description: `chainlink-remediator ${s.stackName}: sweep of every security group of the stack`,
      schedule: events.Schedule.expression(s.securityGroupSweepSchedule),
      targets: [new targets.LambdaFunction(securityGroups)],
    });

    // ---- parameter-guard -----------------------------------------------------------------
    const parameters = makeFunction(
      {
        id: 'ParameterGuard',
        binary: 'parameter-guard',
        description:
          'Validates the node parameters of one Chainlink stack in Parameter Store and rolls bad changes back.',
        timeout: Duration.seconds(120),
        // Older than 30 minutes: superseded by the sweep and newer change events.
        maxEventAge: Duration.seconds(1800),
      },
      [
        // The stacks are found by their security groups' tags. When a parameter change moves a
        // port, and on sweeps of a stack whose flows take ports from its parameters, the
        // stack's security-group plan runs here too: it observes what security-group-guard
        // observes, except load balancers (only that function's sweeps report exposures
        // through them).
        ...importFindings(),
        observeNetwork(),
        // A parameter change that moves a port moves its rule in the same run, not at the next
        // security-group sweep: the new port is authorized before the old rule is revoked, so
        // the node stays reachable.
        repairRulesOfThisStackOnly(),
        // DescribeParameters supports no resource-level permissions.
        new iam.PolicyStatement({
          sid: 'ListParameters',
          actions: ['ssm:DescribeParameters'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'ValidateThisStacksParameters',
          actions: [
            'ssm:GetParametersByPath',
            'ssm:GetParameters',
            'ssm:GetParameter',
            'ssm:GetParameterHistory',
          ],
          resources: parameterPathArns,
        }),
        // Writes only to parameters that exist and carry the stack tag: a name that does not
        // exist has no tag, so PutParameter cannot create one (ssm:Overwrite could not stop
        // that: an overwrite of a missing name creates it). The stack's parameters must be
        // tagged chainlink:stack.
        new iam.PolicyStatement({
          sid: 'RollBackThisStacksTaggedParametersOnly',
          actions: ['ssm:PutParameter', 'ssm:LabelParameterVersion'],
          resources: [arn('ssm', 'parameter', `${parameterPathName}/*`)],
          conditions: tagCondition,
        }),
        // The stack's database ([database]): the node's URL is checked against its endpoint and
        // the connection limit read from its parameter group. Reads only: the tags that find
        // the stack's instance come with DescribeDBInstances.
        readTheStacksDatabase(),
        // A secret the stack file says lives in Secrets Manager ([parameters.external]) is
        // checked to exist: DescribeSecret returns its metadata, never its value, and no
        // statement grants GetSecretValue. Only secrets tagged with the stack.
        new iam.PolicyStatement({
          sid: 'CheckThisStacksSecretsExist',
          actions: ['secretsmanager:DescribeSecret'],
          resources: [
            this.formatArn({
              service: 'secretsmanager',
              resource: 'secret',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
          conditions: tagCondition,
        }),
        // SecureString values: decrypt to validate, encrypt to roll back, only through
        // Parameter Store. With the AWS-managed key, the key is named by its alias.
        s.ssmKmsKeyArn === ''
          ? new iam.PolicyStatement({
              sid: 'SecureStringsWithManagedKey',
              actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
              resources: [arn('kms', 'key', '*')],
              conditions: {
                StringEquals: { 'kms:ViaService': `ssm.${this.region}.amazonaws.com` },
                'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/aws/ssm' },
              },
            })
          : new iam.PolicyStatement({
              sid: 'SecureStringsWithKey',
              actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
              resources: [s.ssmKmsKeyArn],
              conditions: { StringEquals: { 'kms:ViaService': `ssm.${this.region}.amazonaws.com` } },
            }),
      ],
      s.ssmKmsKeyArn === ''
        ? ['describe', 'securityGroups', 'parameterPath', 'database', 'clusters', 'parameterGroups', 'secrets', 'managedSsmKey']
        : ['describe', 'securityGroups', 'parameterPath', 'database', 'clusters', 'parameterGroups', 'secrets'],
    );
    const parameterChange: events.EventPattern = {
      source: ['aws.ssm'],
      detailType: ['Parameter Store Change'],
      detail: { name: events.Match.prefix(`${s.parameterPath}/`) },
    };
    // A parameter's expiration (or no-change) policy acting: the set is re-validated.
    const parameterPolicyAction: events.EventPattern = {
      source: ['aws.ssm'],
      detailType: ['Parameter Store Policy Action'],
      detail: { 'parameter-name': events.Match.prefix(`${s.parameterPath}/`) },
    };
    new events.Rule(this, 'ParameterChange', {
      description: `chainlink-remediator ${s.stackName}: changes under ${s.parameterPath}/`,
      eventPattern: parameterChange,
      targets: [new targets.LambdaFunction(parameters)],
    });
    new events.Rule(this, 'ParameterPolicyAction', {
      description: `chainlink-remediator ${s.stackName}: parameter policies acting under ${s.parameterPath}/`,
      eventPattern: parameterPolicyAction,
      targets: [new targets.LambdaFunction(parameters)],
    });
    new events.Rule(this, 'ParameterSweep', {
      description: `chainlink-remediator ${s.stackName}: validation of every node parameter of the stack`,
      schedule: events.Schedule.expression(s.parameterSweepSchedule),
      targets: [new targets.LambdaFunction(parameters)],
    });

    // ---- instance-guard ------------------------------------------------------------------
    // CloudFormation names the document (a replacement gets a new name, never a clash); the
    // function learns it from FILESYSTEM_DOCUMENT.
    const filesystemDocument = new ssm.CfnDocument(this, 'FilesystemDocument', {
      documentType: 'Command',
      targetType: '/AWS::EC2::Instance',
      content: FILESYSTEM_DOCUMENT_CONTENT,
      tags: [{ key: 'chainlink:stack', value: s.stackName }],
    });
    const instanceArn = arn('ec2', 'instance', '*');
    const launchTemplateArn = arn('ec2', 'launch-template', '*');
    const ladderTypes = ladderInstanceTypes(this);
    const groupArn = this.formatArn({
      service: 'autoscaling',
      resource: 'autoScalingGroup',
      resourceName: '*:autoScalingGroupName/*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const instanceStatements = [
      // None of these supports resource-level permissions.
      new iam.PolicyStatement({
        sid: 'ObserveInstances',
        actions: [
          'ec2:DescribeInstances',
          'ec2:DescribeInstanceTypes',
          'ec2:DescribeInstanceTypeOfferings',
          'ec2:DescribeVolumes',
          'ec2:DescribeVolumesModifications',
          'ec2:DescribeLaunchTemplateVersions',
          // The template's own stack tag: a group's template outside the stack is never changed.
          'ec2:DescribeLaunchTemplates',
          'autoscaling:DescribeAutoScalingGroups',
          'autoscaling:DescribeInstanceRefreshes',
        ],
        resources: ['*'],
      }),
      // An alarm notification is a hint: the alarm is re-read (state, transition, metric,
      // comparison, stack tag) before anything acts.
      new iam.PolicyStatement({
        sid: 'RereadAlarms',
        actions: ['cloudwatch:DescribeAlarms', 'cloudwatch:ListTagsForResource'],
        resources: [
          this.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
      // Whoever may set an alarm's state can fire it: the metric is read back before acting.
      // GetMetricData supports no resource-level permission (Resource must be "*").
      new iam.PolicyStatement({
        sid: 'ReadAlarmMetrics',
        actions: ['cloudwatch:GetMetricData'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'ResizeInstancesOfThisStackOnly',
        actions: ['ec2:StopInstances', 'ec2:StartInstances'],
        resources: [instanceArn],
        conditions: tagCondition,
      }),
      // The instance type and nothing else: a request that sets any other attribute (user data,
      // kernel, instance profile...) carries no ec2:Attribute/InstanceType key.
      new iam.PolicyStatement({
        sid: 'ChangeOnlyTheInstanceTypeOfThisStacksInstances',
        actions: ['ec2:ModifyInstanceAttribute'],
        resources: [instanceArn],
        conditions: { ...tagCondition, Null: { 'ec2:Attribute/InstanceType': 'false' } },
      }),
      // The last remediation is recorded on the instance; no other tag may be written.
      new iam.PolicyStatement({
        sid: 'RecordRemediationTagOnly',
        actions: ['ec2:CreateTags'],
        resources: [instanceArn],
        conditions: {
          ...tagCondition,
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['chainlink:remediation'] },
        },
      }),
      // The node's data volumes must carry chainlink:stack too.
      new iam.PolicyStatement({
        sid: 'GrowVolumesOfThisStackOnly',
        actions: ['ec2:ModifyVolume'],
        resources: [arn('ec2', 'volume', '*')],
        conditions: tagCondition,
      }),
      // A group resize sets one instance-type override of the launch template version the
      // group already uses: only types of the ladder, and nothing else of the group (sizes,
      // subnets, launch configuration). No launch template version is ever created: new launch
      // content (user data, AMI) is what IAM cannot inspect.
      new iam.PolicyStatement({
        sid: 'ResizeGroupsOfThisStackThroughLadderOverridesOnly',
        actions: ['autoscaling:UpdateAutoScalingGroup'],
        resources: [groupArn],
        conditions: {
          StringEquals: { 'autoscaling:ResourceTag/chainlink:stack': s.stackName },
          'ForAllValues:StringEquals': { 'autoscaling:InstanceTypes': ladderTypes },
          Null: {
            'autoscaling:MinSize': 'true',
            'autoscaling:MaxSize': 'true',
            'autoscaling:VPCZoneIdentifiers': 'true',
            'autoscaling:LaunchConfigurationName': 'true',
          },
        },
      }),
      new iam.PolicyStatement({
        sid: 'ReplaceThroughGroupsOfThisStackOnly',
        actions: ['autoscaling:StartInstanceRefresh', 'autoscaling:SetInstanceHealth'],
        resources: [groupArn],
        conditions: { StringEquals: { 'autoscaling:ResourceTag/chainlink:stack': s.stackName } },
      }),
      // The last remediation is recorded on the group too; no other tag may be written.
      new iam.PolicyStatement({
        sid: 'RecordRemediationTagOnGroupsOnly',
        actions: ['autoscaling:CreateOrUpdateTags'],
        resources: [groupArn],
        conditions: {
          StringEquals: { 'autoscaling:ResourceTag/chainlink:stack': s.stackName },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['chainlink:remediation'] },
        },
      }),
      // Setting what a group launches (UpdateAutoScalingGroup with a launch template) makes
      // Auto Scaling check that the caller could launch from it: ec2:RunInstances,
      // ec2:CreateTags for the template's TagSpecifications, iam:PassRole for its instance
      // profile. The function never launches anything itself; these grants only pass that
      // check, for this stack's templates, ladder types and the template's own image. IAM has
      // no key for user data: infra/README.md states what a stolen role could still launch
      // directly, and why.
      new iam.PolicyStatement({
        sid: 'LaunchCheckThisStacksTemplates',
        actions: ['ec2:RunInstances'],
        resources: [launchTemplateArn],
        conditions: tagCondition,
      }),
      // The instance: through the stack's template, of a ladder type only.
      new iam.PolicyStatement({
        sid: 'LaunchCheckLadderInstancesThroughTemplate',
        actions: ['ec2:RunInstances'],
        resources: [instanceArn],
        conditions: {
          ArnLike: { 'ec2:LaunchTemplate': launchTemplateArn },
          StringEquals: { 'ec2:InstanceType': ladderTypes },
        },
      }),
      // The image: the template's own, never one named in the request.
      new iam.PolicyStatement({
        sid: 'LaunchCheckTemplateImageOnly',
        actions: ['ec2:RunInstances'],
        resources: [arn('ec2', 'image', '*', '')],
        conditions: {
          ArnLike: { 'ec2:LaunchTemplate': launchTemplateArn },
          Bool: { 'ec2:IsLaunchTemplateResource': 'true' },
        },
      }),
      new iam.PolicyStatement({
        sid: 'LaunchCheckResourcesThroughTemplate',
        actions: ['ec2:RunInstances'],
        resources: [
          arn('ec2', 'volume', '*'),
          arn('ec2', 'network-interface', '*'),
          arn('ec2', 'subnet', '*'),
          arn('ec2', 'security-group', '*'),
          arn('ec2', 'key-pair', '*'),
        ],
        conditions: { ArnLike: { 'ec2:LaunchTemplate': launchTemplateArn } },
      }),
      new iam.PolicyStatement({
        sid: 'LaunchCheckTagsOnCreate',
        actions: ['ec2:CreateTags'],
        resources: [instanceArn, arn('ec2', 'volume', '*'), arn('ec2', 'network-interface', '*')],
        conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      }),
      // Grow the filesystem after its volume grew, with the stack's own document only (it
      // can do nothing else; SSM checks its one parameter against the engine's path rule).
      // SendCommand authorizes the document and each instance separately: the document is
      // named exactly, the instances by the stack tag (ssm:resourceTag, which SendCommand
      // supports on both resource types).
      new iam.PolicyStatement({
        sid: 'FilesystemDocumentOnly',
        actions: ['ssm:SendCommand'],
        resources: [arn('ssm', 'document', filesystemDocument.ref)],
      }),
      new iam.PolicyStatement({
        sid: 'RunCommandOnInstancesOfThisStackOnly',
        actions: ['ssm:SendCommand'],
        resources: [instanceArn],
        conditions: { StringEquals: { 'ssm:resourceTag/chainlink:stack': s.stackName } },
      }),
    ];
    // The stack's database, on its AWS/RDS alarms ([database], [[alarms]] grow_storage,
    // scale_class, report_connections): the instance is found by the tags DescribeDBInstances
    // returns, max_connections read from its parameter group. parameter-guard's statement (the
    // template tests keep them equal).
    const databaseClasses = databaseClassLadder(this);
    const databaseStorageMaxGib = databaseStorageCap(this);
    const databaseArn = this.formatArn({
      service: 'rds',
      resource: 'db',
      resourceName: '*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    instanceStatements.push(
      readTheStacksDatabase(),
      // On a DatabaseConnections alarm (report_connections) the nodes' connection pools
      // (Database.MaxOpenConns of config.toml or CL_CONFIG, or ORM_MAX_OPEN_CONNS) are compared
      // with max_connections: read from the current values under the stack's parameter path, as
      // stored (WithDecryption false). No kms:Decrypt through Parameter Store: SecureString
      // values come back encrypted (a pool size kept in one is reported as unknown).
      // security-group-guard's statement without GetParameters: GetParametersByPath only, which
      // the path itself authorizes.
      readThisStacksParametersUndecrypted(['ssm:GetParametersByPath']),
      // The instance's last storage change (SourceType db-instance). DescribeEvents supports no
      // resource-level permissions (Service Authorization Reference).
      new iam.PolicyStatement({
        sid: 'ReadDatabaseEvents',
        actions: ['rds:DescribeEvents'],
        resources: ['*'],
      }),
      // Grow the storage (AllocatedStorage or MaxAllocatedStorage) or move one class up the
      // ladder, on the stack's tagged DB instance only. rds:DatabaseClass and rds:StorageSize are
      // keys of the db resource: a class of the ladder, storage up to the cap (IfExists: a request
      // that names no class or no size still passes the other checks). Only db:* is granted, so a
      // request that also names a parameter, option or subnet group (resources ModifyDBInstance
      // then authorizes too) is denied. IAM has no key for the master password, public
      // accessibility, VPC security groups or backup retention: infra/README.md says what a
      // stolen role could still change.
      new iam.PolicyStatement({
        sid: 'ModifyTheStacksDatabaseWithinLadderAndCap',
        actions: ['rds:ModifyDBInstance'],
        resources: [databaseArn],
        conditions: {
          ...tagCondition,
          StringEqualsIfExists: { 'rds:DatabaseClass': databaseClasses },
          NumericLessThanEqualsIfExists: { 'rds:StorageSize': databaseStorageMaxGib },
        },
      }),
      // The last remediation is recorded on the DB instance (once per incident); no other tag
      // may be written, and a request must name its tags (Null guard).
      new iam.PolicyStatement({
        sid: 'RecordRemediationTagOnDatabaseOnly',
        actions: ['rds:AddTagsToResource'],
        resources: [databaseArn],
        conditions: {
          ...tagCondition,
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['chainlink:remediation'] },
          Null: { 'aws:TagKeys': 'false' },
        },
      }),
    );
    // With approvals: an alarm remediation that waits is reported with signed links, and an
    // approval's token is verified again here.
    if (approvals) instanceStatements.push(...readApprovalKey());
    if (s.nodeInstanceRoleArn !== '') {
      instanceStatements.push(
        new iam.PolicyStatement({
          sid: 'LaunchCheckPassNodeRole',
          actions: ['iam:PassRole'],
          resources: [s.nodeInstanceRoleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
        }),
      );
    }
    const instances = makeFunction(
      {
        id: 'InstanceGuard',
        binary: 'instance-guard',
        description:
          'Resizes or replaces the instances of one Chainlink stack when their CloudWatch alarms fire.',
        // A resize stops the instance, changes its type and starts it again, waiting up to two
        // minutes for each state; a rollback may wait twice more (480 s in all). The function
        // must never be cut off between a stop and a start.
        timeout: Duration.seconds(900),
        // An alarm stays in ALARM until its cause is gone, and the function re-reads the
        // instance before acting: an event up to an hour old is still worth handling.
        maxEventAge: Duration.seconds(3600),
        functionName: approvals ? instanceGuardName : undefined,
      },
      instanceStatements,
      [
        'describe',
        'securityGroups',
        'instances',
        'volumes',
        'launchTemplates',
        'networkInterfaces',
        'subnets',
        'keyPairs',
        'images',
        'groups',
        'alarms',
        'database',
        'clusters',
        'parameterGroups',
        'parameterPath',
        ...(approvals ? approvalKeyWildcards : []),
      ],
      { FILESYSTEM_DOCUMENT: filesystemDocument.ref },
    );
    const alarmFired: events.EventPattern = {
      source: ['aws.cloudwatch'],
      detailType: ['CloudWatch Alarm State Change'],
      detail: {
        alarmName: events.Match.prefix(`${s.stackName}-`),
        state: { value: ['ALARM'] },
      },
    };
    new events.Rule(this, 'AlarmFired', {
      description: `chainlink-remediator ${s.stackName}: alarms named ${s.stackName}-* entering ALARM`,
      eventPattern: alarmFired,
      targets: [new targets.LambdaFunction(instances)],
    });
    // With an organisation: the filesystem document's name in the member accounts (each member
    // stack instance creates it, infra/member/template.yaml); FILESYSTEM_DOCUMENT is this
    // account's.
    if (organization) {
      instances.addEnvironment('MEMBER_FILESYSTEM_DOCUMENT', `chainlink-remediator-${s.stackName}-extend-filesystem`);
    }
    this.functions = { securityGroups, parameters, instances };

    // ---- The members' events (organizationId) ----------------------------------------------
    // infra/member/template.yaml forwards them from each member account's and region's default
    // bus, with their original account and region; only principals of the organisation may
    // put events here. Each goes to the function that handles it, by the pattern of that
    // function's default-bus rule above, exactly (the template tests compare them). Not the
    // schedules: a sweep fans out to the members itself.
    if (organization) {
      const bus = new events.EventBus(this, 'MemberEventBus', { eventBusName: `${this.stackName}-members` });
      bus.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OrganizationPutsEvents',
          principals: [new iam.StarPrincipal()],
          actions: ['events:PutEvents'],
          resources: [bus.eventBusArn],
          conditions: { StringEquals: { 'aws:PrincipalOrgID': s.organizationId } },
        }),
      );
      const memberRules: Array<[string, string, events.EventPattern, lambda.IFunction]> = [
        ['MemberSecurityGroupApiCall', 'security-group API calls (CloudTrail)', securityGroupApiCall, securityGroups],
        ['MemberSecurityGroupConfigChange', 'security-group configuration items (AWS Config)', securityGroupConfigChange, securityGroups],
        ['MemberParameterChange', `changes under ${s.parameterPath}/`, parameterChange, parameters],
        ['MemberParameterPolicyAction', `parameter policies acting under ${s.parameterPath}/`, parameterPolicyAction, parameters],
        ['MemberAlarmFired', `alarms named ${s.stackName}-* entering ALARM`, alarmFired, instances],
      ];
      for (const [id, what, eventPattern, fn] of memberRules) {
        new events.Rule(this, id, {
          description: `chainlink-remediator ${s.stackName}: ${what} in the member accounts`,
          eventBus: bus,
          eventPattern,
          targets: [new targets.LambdaFunction(fn)],
        });
      }
      new CfnOutput(this, 'MemberEventBusArn', {
        description: "The bus the member accounts forward their events to (the member template's CentralEventBusArn).",
        value: bus.eventBusArn,
      });
      new CfnOutput(this, 'GuardRoleArns', {
        description:
          "The roles of security-group-guard, parameter-guard and instance-guard, the only principals the member role trusts (the member template's GuardRoleArns).",
        value: Fn.join(',', organizationTargets.map((t) => t.role.roleArn)),
      });
      new CfnOutput(this, 'TargetQueueUrls', {
        description:
          "The target queues of security-group-guard, parameter-guard and instance-guard, in that order (each function's TARGET_QUEUE_URL).",
        value: Fn.join(',', organizationTargets.map((t) => t.queue.queueUrl)),
      });
    }

    // ---- approval-handler ------------------------------------------------------------------
    // Behind a public function URL: GET shows a confirmation page (chat tools fetch links to
    // unfurl them); POST verifies the token's HMAC under the key and hands the decision to the
    // function that owns it (asynchronous Invoke): instance-guard for an alarm remediation,
    // security-group-guard for a security-group plan. That function verifies it again,
    // re-reads, re-plans and applies only the plan the token names. The role can read the key
    // and invoke those two functions, and change nothing itself.
    if (approvals) {
      const handlerLogs = functionLogs('ApprovalHandler', 'approval-handler');
      const handlerRole = new iam.Role(this, 'ApprovalHandlerRole', {
        description: `chainlink-remediator approval-handler of stack ${s.stackName}`,
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        // Not the common statements: the handler publishes no report and has no failure queue
        // (its URL invokes it synchronously).
        inlinePolicies: {
          'approval-handler': new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({
                sid: 'WriteOwnLogs',
                actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
                resources: [handlerLogs.logGroupArn],
              }),
              ...readStackFile(),
              ...readApprovalKey(),
              // The two functions an approval can belong to, by the names they are given above,
              // and no other function.
              new iam.PolicyStatement({
                sid: 'InvokeOwningFunctionsOnly',
                actions: ['lambda:InvokeFunction'],
                resources: [instanceGuardName, securityGroupGuardName].map((resourceName) =>
                  this.formatArn({
                    service: 'lambda',
                    resource: 'function',
                    resourceName,
                    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
                  }),
                ),
              }),
            ],
          }),
        },
      });
      for (const finding of approvalKeyWildcards) {
        const [id, reason] = wildcard[finding];
        Validations.of(handlerRole).acknowledge({ id: `AwsSolutions-IAM5[${id}]`, reason });
      }
      const handler = new RustFunction(this, 'ApprovalHandler', {
        ...rustBuild('approval-handler'),
        description:
          "Takes a person's approve or deny link for a remediation waiting for approval and hands the signed decision to the function that owns it (instance-guard, security-group-guard).",
        role: handlerRole,
        memorySize: 256,
        // Verifying a token and one asynchronous Invoke take milliseconds; the key is read
        // once, at cold start.
        timeout: Duration.seconds(10),
        // The URL is public: reserved concurrency bounds what a flood of requests can cost and
        // keeps it from taking concurrency the account's other functions share. A person's
        // click needs one; five leave room for several people at once.
        reservedConcurrentExecutions: 5,
        environment: {
          ...stackFileEnvironment,
          APPROVAL_TARGET_FUNCTION: instanceGuardName,
          APPROVAL_SECURITY_GROUP_FUNCTION: securityGroupGuardName,
          APPROVAL_KEY_PARAMETER: s.approvalKeyParameter,
        },
        logGroup: handlerLogs,
        loggingFormat: lambda.LoggingFormat.JSON,
        applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
        systemLogLevelV2: lambda.SystemLogLevel.WARN,
      });
      // AuthType NONE: the links are opened by people without AWS credentials. The token in
      // the link is the authorisation (HMAC-SHA3-256 under the stack's key, bound to account,
      // region, stack, plan digest, decision and expiry), verified before anything is done.
      // addFunctionUrl also grants the public InvokeFunctionUrl (auth type NONE) and
      // InvokeFunction through the URL only (lambda:InvokedViaFunctionUrl).
      const url = handler.addFunctionUrl({
        authType: lambda.FunctionUrlAuthType.NONE,
        invokeMode: lambda.InvokeMode.BUFFERED,
      });
      // The approve and deny links of a report's approvals: <APPROVAL_URL>?token=<token>.
      instances.addEnvironment('APPROVAL_URL', url.url);
      securityGroups.addEnvironment('APPROVAL_URL', url.url);
      new CfnOutput(this, 'ApprovalUrl', {
        description:
          "The approve and deny links' base (APPROVAL_URL of instance-guard and security-group-guard); public, each link carries a signed token.",
        value: url.url,
      });
    }

    // ---- Alarms on the remediator itself (names with spaces: never "<stack>-" prefixed) ----
    new cloudwatch.Alarm(this, 'FailedInvocationsAlarm', {
      alarmName: `chainlink-remediator ${s.stackName} failed invocations`,
      alarmDescription:
        'An invocation failed after its retries (or expired); its event and error wait in the failure queue.',
      metric: failedInvocations.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(notify);
    new cloudwatch.Alarm(this, 'ActionsFailedAlarm', {
      alarmName: `chainlink-remediator ${s.stackName} actions failed`,
      alarmDescription: 'A remediation action failed; the report on the topic says which and why.',
      metric: this.remediatorMetric(s.stackName, 'ActionsFailed'),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(notify);

    if (s.createAlarms) this.addInstanceAlarms(s);
    if (s.createAlarms && s.databaseInstanceId !== '') this.addDatabaseAlarms(s);
    const dashboard = this.addDashboard(s, failedInvocations, [
      ['security-group-guard', securityGroups],
      ['parameter-guard', parameters],
      ['instance-guard', instances],
    ]);

    new CfnOutput(this, 'ReportTopicArn', {
      description: 'Where each remediation report (JSON) is published; subscribe to it.',
      value: topic.topicArn,
    });
    new CfnOutput(this, 'FailedInvocationQueueUrl', {
      description: 'Failed invocations (event and error), kept 14 days.',
      value: failedInvocations.queueUrl,
    });
    new CfnOutput(this, 'FilesystemDocumentName', {
      description: "The stack's SSM document that extends a filesystem (the CLI's --filesystem-document).",
      value: filesystemDocument.ref,
    });
    new CfnOutput(this, 'DashboardName', {
      description: "The CloudWatch dashboard of this stack's remediation.",
      value: dashboard.dashboardName,
    });
    if (reportPages) {
      new CfnOutput(this, 'ReportPagesBucketName', {
        description:
          'The bucket of the report pages (reports/<stack>/), linked from each notification; retained when the stack is deleted.',
        value: reportPages.bucketName,
      });
    }
  }

  /** The deploy-time parameters of an organisation (SAM: the same names, defaults and ranges). */
  private organizationParameters(s: RemediatorSettings): OrganizationParameters {
    const memberRoleName = new CfnParameter(this, 'MemberRoleName', {
      type: 'String',
      default: 'ChainlinkRemediatorMember',
      allowedPattern: '^[A-Za-z0-9+=,.@_-]{1,64}$',
      description:
        "The name of the role each member account's StackSet instance creates (the stack file's [organization] role_name); the functions may assume only a role of this name, and only in the organisation.",
    }).valueAsString;
    const targetAttempts = new CfnParameter(this, 'TargetAttempts', {
      type: 'Number',
      default: 3,
      minValue: 1,
      maxValue: 10,
      description:
        "How many times a target's message (one account and region) is received before it moves to its function's dead-letter queue.",
    });
    const targetConcurrency = new CfnParameter(this, 'TargetConcurrency', {
      type: 'Number',
      default: 50,
      minValue: 2,
      maxValue: 1000,
      description:
        "How many targets (account and region) each guard function works on at once; its reserved concurrency, and its target queue's maximum concurrency.",
    }).valueAsNumber;
    return {
      organizationId: s.organizationId,
      stackName: s.stackName,
      memberRoleName,
      targetAttempts: targetAttempts.valueAsNumber,
      targetAttemptsText: targetAttempts.valueAsString,
      targetConcurrency,
    };
  }

  /**
   * A guard function's target queue (SAM: <Function>TargetQueue and its companions, the same
   * properties): FIFO, SQS-managed encryption (Lambda's poller then needs no KMS grant), no
   * content-based deduplication (the function names each message's deduplication ID), the
   * visibility six times the function's timeout (Lambda's advice: room to retry a batch
   * throttled behind a previous one), a FIFO dead-letter queue after TargetAttempts receives
   * with an alarm on it, the event source mapping, and the role's organisation policy.
   */
  private addTargetQueue(
    spec: FunctionSpec,
    fn: lambda.Function,
    role: iam.Role,
    organization: OrganizationParameters,
    notify: cloudwatchActions.SnsAction,
  ): sqs.Queue {
    const organizationId = organization.organizationId;
    // A FIFO queue's dead letters must go to a FIFO queue; kept as long as SQS allows.
    const deadLetters = new sqs.Queue(this, `${spec.id}DeadLetterQueue`, {
      fifo: true,
      contentBasedDeduplication: false,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: `This queue is itself the dead-letter queue of ${spec.binary}'s target queue; a queue behind it would only move the messages.`,
    });
    const queue = new sqs.Queue(this, `${spec.id}TargetQueue`, {
      fifo: true,
      contentBasedDeduplication: false,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(spec.timeout.toSeconds() * 6),
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: organization.targetAttempts },
    });
    const policy = new iam.Policy(this, `${spec.id}OrganizationPolicy`, {
      policyName: 'organization',
      roles: [role],
      statements: [
        // The member role by its name, in accounts of the organisation only (the role's
        // account's organisation, aws:ResourceOrgID). No sts:TagSession: the function passes no
        // session tags.
        new iam.PolicyStatement({
          sid: 'AssumeMemberRoleInOrganizationOnly',
          actions: ['sts:AssumeRole'],
          resources: [`arn:${this.partition}:iam::*:role/${organization.memberRoleName}`],
          conditions: { StringEquals: { 'aws:ResourceOrgID': organizationId } },
        }),
        // Work for a target: a sweep's fan-out messages, a member's forwarded event.
        new iam.PolicyStatement({
          sid: 'SendToOwnTargetQueue',
          actions: ['sqs:SendMessage'],
          resources: [queue.queueArn],
        }),
        // What Lambda's poller needs, with this role, for the event source mapping.
        new iam.PolicyStatement({
          sid: 'ConsumeOwnTargetQueue',
          actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
          resources: [queue.queueArn],
        }),
        // The targets: the organisation's accounts. ListAccounts has no resource type. Only the
        // management account or a delegated administrator may call these.
        new iam.PolicyStatement({
          sid: 'ListOrganizationAccounts',
          actions: ['organizations:ListAccounts'],
          resources: ['*'],
        }),
        // With ous: the accounts under them, at any depth; only this organisation's roots and
        // organizational units (the management account's ID, unknown here, is "*").
        new iam.PolicyStatement({
          sid: 'ListAccountsUnderOrganizationalUnits',
          actions: ['organizations:ListAccountsForParent', 'organizations:ListChildren'],
          resources: [
            `arn:${this.partition}:organizations::*:ou/${organizationId}/ou-*`,
            `arn:${this.partition}:organizations::*:root/${organizationId}/r-*`,
          ],
        }),
      ],
    });
    for (const [id, reason] of organizationWildcardReasons(organizationId)) {
      Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[${id}]`, reason });
    }
    // A batch holds at most 10 messages of a FIFO queue. With partial batch responses the
    // function must return the failed message and every later one of the batch, so that a
    // group's order holds.
    const mapping = new lambda.EventSourceMapping(this, `${spec.id}TargetQueueMapping`, {
      target: fn,
      eventSourceArn: queue.queueArn,
      batchSize: 10,
      reportBatchItemFailures: true,
      maxConcurrency: organization.targetConcurrency,
    });
    // Lambda checks at creation that the role may receive from the queue.
    mapping.node.addDependency(policy);
    // Where every piece of work for a target goes (MessageGroupId "<account>/<region>").
    fn.addEnvironment('TARGET_QUEUE_URL', queue.queueUrl);
    new cloudwatch.Alarm(this, `${spec.id}DeadLetterAlarm`, {
      alarmName: `chainlink-remediator ${organization.stackName} ${spec.binary} dead letters`,
      alarmDescription: `A target (account and region) of ${spec.binary} failed ${organization.targetAttemptsText} times; its message waits in the dead-letter queue.`,
      metric: deadLetters.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: Duration.minutes(5),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(notify);
    return queue;
  }

  /**
   * The report pages' bucket (SAM: ReportPagesBucket, the same properties): private, TLS only,
   * owned by the account whoever writes, pages under reports/ expired after the
   * `ReportPageDays` deploy-time parameter.
   */
  private addReportPagesBucket(): s3.Bucket {
    const days = new CfnParameter(this, 'ReportPageDays', {
      type: 'Number',
      default: 90,
      minValue: 1,
      maxValue: 3650,
      description:
        "How many days a report page is kept, and so how long its link works (the bucket's lifecycle expires reports/ after it).",
    }).valueAsNumber;
    const bucket = new s3.Bucket(this, 'ReportPagesBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // No ACLs: the stack's account owns every page, whoever wrote it.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // SSE-S3: a customer key would need kms:GenerateDataKey for the functions and kms:Decrypt
      // for every reader, beside s3:PutObject and s3:GetObject, and the stack's only key (the
      // topic's, when it creates one) is scoped to SNS.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // Versioned: the functions only ever write a new key, but a stolen role's PutObject could
      // overwrite a page; the original then stays as a noncurrent version, which no function may
      // delete, for as long as a page lives.
      versioned: true,
      lifecycleRules: [
        {
          id: 'ExpireReportPages',
          prefix: 'reports/',
          expiration: Duration.days(days),
          noncurrentVersionExpiration: Duration.days(days),
        },
        { id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      // Reports are evidence of what was found and done: a deleted or replaced stack leaves the
      // bucket and its pages behind (the lifecycle keeps expiring them), and its TLS-only policy.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    bucket.policy?.applyRemovalPolicy(RemovalPolicy.RETAIN);
    // A fixed logical id, the SAM template's: a retained bucket whose id moved with the construct
    // tree would be left behind for a new, empty one.
    const cfnBucket = bucket.node.defaultChild as s3.CfnBucket;
    cfnBucket.overrideLogicalId('ReportPagesBucket');
    Validations.of(cfnBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "The pages are copies of the reports already published to the report topic, read in the console with the reader's own sign-in (CloudTrail records those calls, and S3 data events if the account enables them); an access-log bucket per stack would need a lifecycle and protection of its own for no record these do not give.",
    });
    return bucket;
  }

  private remediatorMetric(stackName: string, metricName: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { Stack: stackName },
      statistic: 'Sum',
      period: Duration.minutes(5),
    });
  }

  /**
   * The alarms the instance function reacts to, named <stack>-<role>-<what>[-<instance>] so
   * that its rule's name-prefix filter matches them. They have no actions: the rule is the
   * wiring. Missing data (a stopped instance during a resize) is not breaching, or every
   * resize would raise the alarm it answers. Memory and disk come from the CloudWatch agent.
   */
  private addInstanceAlarms(s: RemediatorSettings): void {
    const targets: Array<{ suffix: string; dimensions: Record<string, string> }> = [];
    if (s.autoScalingGroupName !== '') {
      targets.push({ suffix: '', dimensions: { AutoScalingGroupName: s.autoScalingGroupName } });
    }
    for (const id of s.nodeInstanceIds) {
      targets.push({ suffix: `-${id}`, dimensions: { InstanceId: id } });
    }
    const kinds = [
      { what: 'cpu', namespace: 'AWS/EC2', metricName: 'CPUUtilization', statistic: 'Average',
        period: 300, periods: 3, threshold: 85, path: false,
        op: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD },
      { what: 'memory', namespace: 'CWAgent', metricName: 'mem_used_percent', statistic: 'Average',
        period: 300, periods: 3, threshold: 90, path: false,
        op: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD },
      { what: 'disk', namespace: 'CWAgent', metricName: 'disk_used_percent', statistic: 'Maximum',
        period: 300, periods: 1, threshold: 85, path: true,
        op: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD },
      { what: 'status', namespace: 'AWS/EC2', metricName: 'StatusCheckFailed', statistic: 'Maximum',
        period: 60, periods: 2, threshold: 1, path: false,
        op: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD },
    ];
    for (const target of targets) {
      for (const kind of kinds) {
        const name = `${s.stackName}-${s.alarmRole}-${kind.what}${target.suffix}`;
        const alarm = new cloudwatch.Alarm(this, `Alarm-${kind.what}${target.suffix}`, {
          alarmName: name,
          metric: new cloudwatch.Metric({
            namespace: kind.namespace,
            metricName: kind.metricName,
            dimensionsMap: kind.path ? { ...target.dimensions, path: '/' } : target.dimensions,
            statistic: kind.statistic,
            period: Duration.seconds(kind.period),
          }),
          threshold: kind.threshold,
          comparisonOperator: kind.op,
          evaluationPeriods: kind.periods,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
        Tags.of(alarm).add('chainlink:role', s.alarmRole, { priority: 200 });
        // instance-guard acts only on alarms that carry the stack tag (it re-reads each one).
        Tags.of(alarm).add('chainlink:stack', s.stackName, { priority: 200 });
      }
    }
  }

  /**
   * The alarms on the stack's RDS instance (SAM: DatabaseAlarms), named <stack>-db-<what>: the
   * same rule takes them to instance-guard, which maps them by metric to the stack file's
   * [[alarms]] (grow_storage, scale_class, report_connections). No actions; tagged into the
   * stack. Free storage and freeable memory are in trouble when low.
   */
  private addDatabaseAlarms(s: RemediatorSettings): void {
    const id = s.databaseInstanceId;
    const kinds = [
      { what: 'free-storage', logicalId: 'DatabaseFreeStorageAlarm', metricName: 'FreeStorageSpace',
        statistic: 'Minimum', periods: 1, threshold: 10737418240,
        description: `Free storage of ${id} below 10 GiB (grow_storage).`,
        op: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD },
      { what: 'cpu', logicalId: 'DatabaseCpuAlarm', metricName: 'CPUUtilization',
        statistic: 'Average', periods: 3, threshold: 80,
        description: `CPU of ${id} above 80% for 15 minutes (scale_class).`,
        op: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD },
      { what: 'memory', logicalId: 'DatabaseMemoryAlarm', metricName: 'FreeableMemory',
        statistic: 'Average', periods: 3, threshold: 268435456,
        description: `Freeable memory of ${id} below 256 MiB for 15 minutes (scale_class).`,
        op: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD },
      { what: 'connections', logicalId: 'DatabaseConnectionsAlarm', metricName: 'DatabaseConnections',
        statistic: 'Maximum', periods: 2, threshold: 80,
        description: `More than 80 connections to ${id} for 10 minutes (report_connections).`,
        op: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD },
    ];
    for (const kind of kinds) {
      const alarm = new cloudwatch.Alarm(this, kind.logicalId, {
        alarmName: `${s.stackName}-db-${kind.what}`,
        alarmDescription: kind.description,
        metric: new cloudwatch.Metric({
          namespace: 'AWS/RDS',
          metricName: kind.metricName,
          dimensionsMap: { DBInstanceIdentifier: id },
          statistic: kind.statistic,
          period: Duration.seconds(300),
        }),
        threshold: kind.threshold,
        comparisonOperator: kind.op,
        evaluationPeriods: kind.periods,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      Tags.of(alarm).add('chainlink:role', 'db', { priority: 200 });
      // instance-guard acts only on alarms that carry the stack tag (it re-reads each one).
      Tags.of(alarm).add('chainlink:stack', s.stackName, { priority: 200 });
    }
  }

  private addDashboard(
    s: RemediatorSettings,
    failedInvocations: sqs.Queue,
    functions: Array<[string, lambda.IFunction & { logGroup: logs.ILogGroup }]>,
  ): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `chainlink-remediator-${s.stackName}`,
    });
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `## chainlink-remediator: stack ${s.stackName} (mode ${s.mode})`,
        width: 24,
        height: 1,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Security groups: drift and actions',
        width: 12,
        left: REMEDIATION_METRICS.map((m) => this.remediatorMetric(s.stackName, m)),
      }),
      new cloudwatch.GraphWidget({
        title: 'Node parameters: findings',
        width: 12,
        left: PARAMETER_METRICS.map((m) => this.remediatorMetric(s.stackName, m)),
      }),
    );
    dashboard.addWidgets(
      ...functions.map(
        ([name, fn]) =>
          new cloudwatch.GraphWidget({
            title: name,
            width: 8,
            left: [
              fn.metricInvocations({ statistic: 'Sum' }),
              fn.metricErrors({ statistic: 'Sum' }),
              fn.metricThrottles({ statistic: 'Sum' }),
            ],
            right: [fn.metricDuration({ statistic: 'Maximum' })],
          }),
      ),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Cold starts and failed invocations',
        width: 12,
        left: [
          this.remediatorMetric(s.stackName, 'ColdStart'),
          failedInvocations.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' }),
        ],
      }),
      new cloudwatch.LogQueryWidget({
        title: 'Recent remediation errors',
        width: 12,
        logGroupNames: functions.map(([, fn]) => fn.logGroup.logGroupName),
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        queryLines: [
          'fields @timestamp, @log, level, @message',
          "filter level = 'ERROR' or level = 'WARN'",
          'sort @timestamp desc',
          'limit 50',
        ],
      }),
    );
    return dashboard;
  }
}

/**
 * The stack's VPCs, from the `StackVpcIds` deploy-time parameter (as in the SAM template): the
 * IDs are the stack's network, given by whoever deploys it, and no tag on a group can move a
 * group into it.
 */
function stackVpcIds(scope: Construct): string[] {
  return new CfnParameter(scope, 'StackVpcIds', {
    type: 'CommaDelimitedList',
    allowedPattern: '^vpc-[0-9a-f]{8,17}$',
    description:
      "The VPCs of the guarded stack (the stack file's [stack] vpcs); the security-group writes are allowed only on groups in them (ec2:Vpc), whatever a group's tags say.",
  }).valueAsList;
}

/** The `ec2:Vpc` patterns of the stack's VPCs, one per ID. */
function stackVpcArnPatterns(ids: string[]): string[] {
  const prefix = 'arn:*:ec2:*:*:vpc/';
  return Fn.split(',', Fn.join('', [prefix, Fn.join(`,${prefix}`, ids)]));
}

/**
 * Every instance type of the stack file's resize ladders, from the `LadderInstanceTypes`
 * deploy-time parameter (as in the SAM template): a group is resized only to one of them
 * (`autoscaling:InstanceTypes`), and Auto Scaling's launch check passes only for them.
 */
function ladderInstanceTypes(scope: Construct): string[] {
  return new CfnParameter(scope, 'LadderInstanceTypes', {
    type: 'CommaDelimitedList',
    allowedPattern: '^[a-z][a-z0-9-]*\\.[a-z0-9-]+$',
    description:
      "Every instance type of the stack file's resize ladders. A group is resized only to one of them (autoscaling:InstanceTypes), and Auto Scaling's launch check passes only for them (ec2:InstanceType).",
  }).valueAsList;
}

/**
 * The DB instance classes of the stack file's `[database]` ladder, from the `DatabaseClasses`
 * deploy-time parameter (as in the SAM template): instance-guard may change the stack's DB
 * instance only to (and from) one of them (`rds:DatabaseClass`).
 */
function databaseClassLadder(scope: Construct): string[] {
  return new CfnParameter(scope, 'DatabaseClasses', {
    type: 'CommaDelimitedList',
    default: 'db.m6i.large,db.m6i.xlarge,db.m6i.2xlarge',
    allowedPattern: '^db\\.[a-z0-9-]+\\.[a-z0-9-]+$',
    description:
      "Every DB instance class of the stack file's [database] ladder. instance-guard may change the stack's DB instance only to (and only from) one of them (rds:DatabaseClass).",
  }).valueAsList;
}

/**
 * The stack file's `[database] storage_max_gib`, from the `DatabaseStorageMaxGiB` deploy-time
 * parameter (as in the SAM template): instance-guard may modify the stack's DB instance only
 * while its storage stays at or below it (`rds:StorageSize`).
 */
function databaseStorageCap(scope: Construct): number {
  return new CfnParameter(scope, 'DatabaseStorageMaxGiB', {
    type: 'Number',
    default: 1000,
    minValue: 20,
    maxValue: 65536,
    description:
      "The stack file's [database] storage_max_gib (its default is 1000). instance-guard may modify the stack's DB instance only while its storage stays at or below it (rds:StorageSize).",
  }).valueAsNumber;
}

/**
 * The wildcard resources (and actions) cdk-nag's AwsSolutions-IAM5 reports, by name: the
 * finding's id, as cdk-nag prints it, and why the wildcard stays.
 */
function wildcardReasons(s: RemediatorSettings) {
  const ec2 = (resource: string) =>
    `Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:${resource}/*`;
  const launchCheck =
    'Only for the permission check Auto Scaling makes when a group moves to a new launch template version (the function launches nothing); conditioned on a launch through a launch template.';
  return {
    describe: [
      'Resource::*',
      'Describe calls (ec2:Describe*, autoscaling:Describe*, ssm:DescribeParameters, rds:DescribeEvents) and cloudwatch:GetMetricData support no resource-level permissions; they only read.',
    ],
    securityGroups: [
      ec2('security-group'),
      'Group ids are not known at deploy time: rule writes (and, with approvals, CreateTags of the chainlink:approval key only) are conditioned on aws:ResourceTag/chainlink:stack = the stack and on ec2:Vpc; the RunInstances launch check on a launch through a launch template.',
    ],
    instances: [
      ec2('instance'),
      'Instance ids are not known at deploy time: stop/start/modify are conditioned on aws:ResourceTag/chainlink:stack, the tag write also on the tag key, SendCommand on ssm:resourceTag/chainlink:stack, RunInstances/CreateTags on a launch through a template.',
    ],
    volumes: [
      ec2('volume'),
      'Volume ids are not known at deploy time: ModifyVolume is conditioned on aws:ResourceTag/chainlink:stack; RunInstances/CreateTags on a launch through a template.',
    ],
    launchTemplates: [
      ec2('launch-template'),
      'Launch template ids are not known at deploy time: conditioned on aws:ResourceTag/chainlink:stack.',
    ],
    database: [
      'Resource::arn:<AWS::Partition>:rds:<AWS::Region>:<AWS::AccountId>:db:*',
      'DescribeDBInstances lists the region\'s instances and keeps the stack\'s by the tags it returns (one call, no tagging API), a read; instance-guard\'s ModifyDBInstance and AddTagsToResource are conditioned on aws:ResourceTag/chainlink:stack (and on the ladder and storage cap, or on the chainlink:remediation tag key).',
    ],
    clusters: [
      'Resource::arn:<AWS::Partition>:rds:<AWS::Region>:<AWS::AccountId>:cluster:*',
      'An Aurora member\'s cluster is the database\'s, not known at deploy time: DescribeDBClusters reads its endpoints, a read made only when the region has a cluster member.',
    ],
    parameterGroups: [
      'Resource::arn:<AWS::Partition>:rds:<AWS::Region>:<AWS::AccountId>:pg:*',
      'The parameter group is the database\'s, not known at deploy time: DescribeDBParameters, a read.',
    ],
    secrets: [
      'Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:*',
      'Secret names are the stack file\'s, not known at deploy time: DescribeSecret (metadata, never the value) is conditioned on aws:ResourceTag/chainlink:stack = the stack.',
    ],
    networkInterfaces: [ec2('network-interface'), launchCheck],
    subnets: [ec2('subnet'), launchCheck],
    keyPairs: [ec2('key-pair'), launchCheck],
    images: ['Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::image/*', launchCheck],
    groups: [
      'Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/*',
      'Group names are not known at deploy time: conditioned on autoscaling:ResourceTag/chainlink:stack.',
    ],
    alarms: [
      'Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*',
      "Alarm names are not known at deploy time (the stack file's rules match names and metrics): only DescribeAlarms and ListTagsForResource, which read; ownership is decided by the alarm's chainlink:stack tag.",
    ],
    parameterPath: [
      `Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${s.parameterPath}/*`,
      "The stack's own parameter path: every parameter below it is the node's configuration.",
    ],
    approvalKey: [
      'Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*',
      'The AWS-managed aws/ssm key has no ARN known at deploy time: restricted to it by kms:ResourceAliases, to calls through Parameter Store by kms:ViaService, and to the approval key parameter\'s value by kms:EncryptionContext:PARAMETER_ARN; kms:Decrypt only.',
    ],
    managedSsmKey: [
      'Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*',
      'The AWS-managed aws/ssm key has no ARN known at deploy time: restricted to it by kms:ResourceAliases, and to calls through Parameter Store by kms:ViaService.',
    ],
    reportPages: [
      'Resource::arn:<AWS::Partition>:s3:::<ReportPagesBucket>/reports/*',
      "Page keys are made per run (reports/<stack>/<time>-<signal id>.html): s3:PutObject only, in the stack's own report-pages bucket, under reports/.",
    ],
    topicKeyActions: [
      'Action::kms:GenerateDataKey*',
      'Publishing to the KMS-encrypted report topic needs GenerateDataKey with whichever suffix SNS uses: on this key only, through SNS only.',
    ],
  } satisfies Record<string, [string, string]>;
}

/** The deploy-time parameters of an organisation (MemberRoleName, TargetAttempts, TargetConcurrency). */
interface OrganizationParameters {
  readonly organizationId: string;
  /** The guarded stack (settings), for the alarms' names. */
  readonly stackName: string;
  readonly memberRoleName: string;
  readonly targetAttempts: number;
  /** TargetAttempts as text, for descriptions. */
  readonly targetAttemptsText: string;
  readonly targetConcurrency: number;
}

/** cdk-nag's AwsSolutions-IAM5 findings of a guard function's organisation policy, with why each stays. */
function organizationWildcardReasons(organizationId: string): Array<[string, string]> {
  return [
    [
      'Resource::*',
      'organizations:ListAccounts has no resource type (Service Authorization Reference): it lists the accounts of the caller\'s organisation, a read.',
    ],
    [
      'Resource::arn:<AWS::Partition>:iam::*:role/<MemberRoleName>',
      'The member accounts are the organisation\'s, listed at run time: the member role by its name in any account, conditioned on aws:ResourceOrgID = the organisation.',
    ],
    [
      `Resource::arn:<AWS::Partition>:organizations::*:ou/${organizationId}/ou-*`,
      'The organizational units are the stack file\'s, under a management account unknown here: ListChildren and ListAccountsForParent, reads, on this organisation\'s units only.',
    ],
    [
      `Resource::arn:<AWS::Partition>:organizations::*:root/${organizationId}/r-*`,
      'The root is the organisation\'s, under a management account unknown here: ListChildren and ListAccountsForParent, reads, on this organisation\'s root only.',
    ],
  ];
}
