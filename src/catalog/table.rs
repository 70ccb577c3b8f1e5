//! The catalog's data: one row per AWS service that offers an interface endpoint.
//!
//! The list follows AWS's page "AWS services that integrate with AWS PrivateLink"
//! (<https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html>),
//! limited to service names of the form `com.amazonaws.<region>.<short>` that exist in the
//! commercial Regions. FIPS variants (`*-fips`) are left out: AWS offers them only in US
//! and Canadian Regions, and the catalog is the same in every Region.
//!
//! A row says only what differs from the rule AWS documents for most services: the
//! private DNS name is `<short with its dotted parts reversed>.<region>.amazonaws.com`
//! and the endpoint listens on TCP 443. Every exception names its source beside it.
//!
//! Rows are append-only: public addresses are drawn in row order, so a service added at
//! the end never moves the addresses of one already here. The catalog lists services
//! sorted by short name whatever the row order.

/// How a service's private DNS names are formed.
#[derive(Debug, Clone, Copy)]
pub(super) enum Names {
    /// `<dns part>.<region>.amazonaws.com`.
    Standard,
    /// Templates in which `{region}` stands for the Region's name; the first is the one
    /// `PrivateDnsName` shows.
    Templates(&'static [&'static str]),
    /// The service documents no private DNS support: endpoints are reached by their
    /// regional and zonal vpce names only.
    None,
}

/// One row of the catalog.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    /// The part after `com.amazonaws.<region>.`.
    pub(super) short: &'static str,
    /// The private DNS names.
    pub(super) names: Names,
    /// TCP ports, ascending.
    pub(super) ports: &'static [u16],
    /// The vpce names' service part when it is not the reversed short name.
    pub(super) dns_part: Option<&'static str>,
}

impl Row {
    /// A service with the standard private name, on 443.
    const fn new(short: &'static str) -> Self {
        Self {
            short,
            names: Names::Standard,
            ports: &[443],
            dns_part: None,
        }
    }

    /// Replaces the private names (templates with `{region}`).
    const fn named(self, templates: &'static [&'static str]) -> Self {
        Self {
            names: Names::Templates(templates),
            ..self
        }
    }

    /// A service without private DNS support.
    const fn no_private_dns(self) -> Self {
        Self {
            names: Names::None,
            ..self
        }
    }

    /// Replaces the ports (ascending).
    const fn ports(self, ports: &'static [u16]) -> Self {
        Self { ports, ..self }
    }

    /// Replaces the vpce names' service part.
    const fn dns_part(self, part: &'static str) -> Self {
        Self {
            dns_part: Some(part),
            ..self
        }
    }
}

/// DataSync: 443 for activation and the API, 1024-1064 for the agent's control
/// traffic to the endpoint.
/// Source: <https://docs.aws.amazon.com/datasync/latest/userguide/datasync-network.html>
const DATASYNC_PORTS: [u16; 42] = {
    let mut ports = [443_u16; 42];
    let mut i = 1;
    while i < ports.len() {
        ports[i] = 1023 + i as u16;
        i += 1;
    }
    ports
};

/// Every row, in the order services joined the catalog (see the module doc).
pub(super) const ROWS: &[Row] = &[
    // The first 53 rows: the original PrivateLink list, plus S3.
    Row::new("application-autoscaling"),
    Row::new("appmesh-envoy-management"),
    Row::new("appstream.api"),
    Row::new("athena"),
    Row::new("autoscaling"),
    Row::new("autoscaling-plans"),
    Row::new("clouddirectory"),
    Row::new("cloudformation"),
    Row::new("cloudtrail"),
    Row::new("codebuild"),
    Row::new("codecommit"),
    Row::new("codepipeline"),
    Row::new("config"),
    Row::new("datasync").ports(&DATASYNC_PORTS),
    Row::new("devicefarm"),
    Row::new("ec2"),
    Row::new("ec2messages"),
    Row::new("ecr.api"),
    // Source: <https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html>
    Row::new("ecr.dkr").named(&["*.dkr.ecr.{region}.amazonaws.com"]),
    Row::new("ecs"),
    Row::new("ecs-agent"),
    Row::new("ecs-telemetry"),
    Row::new("elasticfilesystem"),
    Row::new("elasticloadbalancing"),
    Row::new("elasticmapreduce"),
    Row::new("events"),
    // Source: <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-private-apis.html>
    Row::new("execute-api").named(&["*.execute-api.{region}.amazonaws.com"]),
    // Git over SSH (22) and HTTPS (443).
    // Source: <https://docs.aws.amazon.com/codecommit/latest/userguide/codecommit-and-interface-VPC.html>
    Row::new("git-codecommit").ports(&[22, 443]),
    Row::new("glue"),
    // The Firehose API's own name, not the service name's.
    // Source: <https://docs.aws.amazon.com/firehose/latest/dev/vpc.html>
    Row::new("kinesis-firehose").named(&["firehose.{region}.amazonaws.com"]),
    // Source: <https://docs.aws.amazon.com/streams/latest/dev/vpc.html>
    Row::new("kinesis-streams").named(&["kinesis.{region}.amazonaws.com"]),
    Row::new("kms"),
    Row::new("logs"),
    Row::new("managedblockchain"),
    Row::new("monitoring"),
    // Source: <https://docs.aws.amazon.com/sagemaker/latest/dg/notebook-interface-endpoint.html>
    Row::new("notebook").named(&["*.notebook.{region}.sagemaker.aws"]),
    Row::new("qldb.session"),
    Row::new("rekognition"),
    // Both the regional name and bucket names below it; the wildcard is the one
    // `PrivateDnsName` shows.
    // Source: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/privatelink-interface-endpoints.html#private-dns>
    Row::new("s3").named(&["*.s3.{region}.amazonaws.com", "s3.{region}.amazonaws.com"]),
    Row::new("sagemaker.api"),
    Row::new("sagemaker.runtime"),
    Row::new("secretsmanager"),
    Row::new("servicecatalog"),
    Row::new("sms"),
    Row::new("sns"),
    Row::new("sqs"),
    Row::new("ssm"),
    Row::new("ssmmessages"),
    Row::new("states"),
    // Activation and control ports through the endpoint.
    // Source: <https://docs.aws.amazon.com/storagegateway/latest/userguide/gateway-private-link.html>
    Row::new("storagegateway").ports(&[443, 1026, 1027, 1028, 1031, 2222]),
    Row::new("sts"),
    // SFTP on 22, the HTTPS API on 443.
    // Source: <https://docs.aws.amazon.com/transfer/latest/userguide/create-server-in-vpc.html>
    Row::new("transfer.server").ports(&[22, 443]),
    Row::new("workspaces"),
    // Added with the full catalog, alphabetically.
    Row::new("access-analyzer"),
    Row::new("account"),
    Row::new("acm"),
    Row::new("acm-pca"),
    Row::new("airflow.api"),
    Row::new("airflow.env"),
    Row::new("airflow.ops"),
    Row::new("app-integrations"),
    Row::new("appconfig"),
    Row::new("appconfigdata"),
    Row::new("application-signals"),
    Row::new("applicationinsights"),
    Row::new("appmesh"),
    Row::new("apprunner"),
    // The data plane: private GraphQL and real-time APIs answer at their generated
    // `<api id>.appsync-api.<region>.amazonaws.com` URLs through the endpoint.
    // Source: <https://docs.aws.amazon.com/appsync/latest/devguide/using-private-apis.html>
    Row::new("appsync-api").named(&["*.appsync-api.{region}.amazonaws.com"]),
    // The control plane (`appsync.<region>.amazonaws.com`).
    // Source: <https://docs.aws.amazon.com/appsync/latest/devguide/using-private-apis.html>
    Row::new("appsync"),
    Row::new("aps"),
    Row::new("aps-workspaces"),
    Row::new("apptest"),
    Row::new("arsenal-discovery"),
    Row::new("auditmanager"),
    Row::new("awsconnector"),
    Row::new("b2bi"),
    Row::new("backup"),
    Row::new("backup-gateway"),
    Row::new("batch"),
    Row::new("bcm-pricing-calculator"),
    Row::new("bedrock"),
    Row::new("bedrock-agent"),
    Row::new("bedrock-agent-runtime"),
    Row::new("bedrock-agentcore"),
    Row::new("bedrock-data-automation"),
    Row::new("bedrock-data-automation-runtime"),
    Row::new("bedrock-runtime"),
    Row::new("billing"),
    Row::new("billingconductor"),
    Row::new("braket"),
    Row::new("cases"),
    // CQL over TLS on 9142, the HTTPS API on 443.
    // Source: <https://docs.aws.amazon.com/keyspaces/latest/devguide/programmatic.endpoints.html>
    // and <https://docs.aws.amazon.com/keyspaces/latest/devguide/vpc-endpoints.html>
    Row::new("cassandra").ports(&[443, 9142]),
    Row::new("ce"),
    Row::new("cleanrooms"),
    Row::new("cleanrooms-ml"),
    Row::new("cloudcontrolapi"),
    Row::new("cloudhsmv2"),
    // The API keeps the service's own host name.
    // Source: <https://docs.aws.amazon.com/codeartifact/latest/ug/create-vpc-endpoints.html>
    Row::new("codeartifact.api").named(&["codeartifact.{region}.amazonaws.com"]),
    // Repository hosts are `<domain>-<owner>.d.codeartifact.<region>.amazonaws.com`, and
    // the endpoint's own names are `vpce-....d.codeartifact.<region>.vpce.amazonaws.com`.
    // Source: <https://docs.aws.amazon.com/codeartifact/latest/ug/use-codeartifact-from-vpc.html>
    Row::new("codeartifact.repositories")
        .named(&["*.d.codeartifact.{region}.amazonaws.com"])
        .dns_part("d.codeartifact"),
    Row::new("codedeploy"),
    Row::new("codedeploy-commands-secure"),
    Row::new("codeguru-profiler"),
    Row::new("codeguru-reviewer"),
    Row::new("codewhisperer"),
    Row::new("cognito-identity"),
    Row::new("cognito-idp"),
    Row::new("comprehend"),
    Row::new("comprehendmedical"),
    Row::new("compute-optimizer"),
    Row::new("connect-campaigns"),
    // Console private access: the guide has you create the console's and sign-in's
    // records in private hosted zones of your own, pointing at the endpoints.
    // Source: <https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/dns-configuration-console-signin.html>
    Row::new("console").no_private_dns(),
    // Source: <https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/required-endpoints-dns-configuration.html>
    Row::new("console-static").no_private_dns(),
    Row::new("controlcatalog"),
    Row::new("cost-optimization-hub"),
    Row::new("data-servicediscovery"),
    Row::new("databrew"),
    Row::new("dataexchange"),
    Row::new("datazone"),
    Row::new("deadline.management"),
    Row::new("deadline.scheduling"),
    Row::new("devops-guru"),
    Row::new("dicom-medical-imaging"),
    Row::new("discovery"),
    Row::new("dms"),
    Row::new("drs"),
    Row::new("ds"),
    Row::new("ds-data"),
    Row::new("dsql"),
    // Interface endpoints are reached by their endpoint-specific names: the guide's
    // considerations list private DNS as unsupported.
    // Source: <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/privatelink-interface-endpoints.html>
    Row::new("dynamodb").no_private_dns(),
    // "AWS PrivateLink for Amazon DynamoDB Streams does not support ... private and hybrid DNS".
    // Source: <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/privatelink-streams.html>
    Row::new("dynamodb-streams").no_private_dns(),
    Row::new("ebs"),
    Row::new("eks"),
    Row::new("eks-auth"),
    Row::new("elasticache"),
    Row::new("elasticbeanstalk"),
    Row::new("elasticbeanstalk-health"),
    Row::new("email"),
    // SMTP only: STARTTLS on 25, 587 and 2587, TLS wrapper on 465 and 2465.
    // Source: <https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html>
    Row::new("email-smtp").ports(&[25, 465, 587, 2465, 2587]),
    Row::new("emr-containers"),
    Row::new("emr-serverless"),
    Row::new("entityresolution"),
    Row::new("fis"),
    Row::new("forecast"),
    Row::new("forecastquery"),
    Row::new("frauddetector"),
    Row::new("fsx"),
    Row::new("geo.geofencing"),
    Row::new("geo.maps"),
    Row::new("geo.metadata"),
    Row::new("geo.places"),
    Row::new("geo.routes"),
    Row::new("geo.tracking"),
    Row::new("grafana"),
    // Workspaces answer at `<workspace id>.grafana-workspace.<region>.amazonaws.com`, so
    // the private name is the wildcard (the guide names the service, not the record).
    // Source: <https://docs.aws.amazon.com/grafana/latest/userguide/VPC-endpoints.html>
    Row::new("grafana-workspace").named(&["*.grafana-workspace.{region}.amazonaws.com"]),
    Row::new("greengrass"),
    Row::new("groundstation"),
    Row::new("guardduty"),
    Row::new("guardduty-data"),
    Row::new("healthlake"),
    Row::new("identitystore"),
    Row::new("imagebuilder"),
    Row::new("inspector-scan"),
    Row::new("inspector2"),
    Row::new("internetmonitor"),
    Row::new("invoicing"),
    Row::new("iot.fleethub.api"),
    Row::new("iotfleetwise"),
    Row::new("iotsitewise.api"),
    Row::new("iotsitewise.data"),
    Row::new("iottwinmaker.api"),
    Row::new("iottwinmaker.data"),
    Row::new("iotwireless.api"),
    Row::new("kafka"),
    Row::new("kafkaconnect"),
    Row::new("kendra"),
    Row::new("lakeformation"),
    Row::new("lambda"),
    Row::new("launchwizard"),
    Row::new("license-manager"),
    Row::new("license-manager-linux-subscriptions"),
    Row::new("license-manager-user-subscriptions"),
    Row::new("m2"),
    Row::new("macie2"),
    Row::new("mail-manager"),
    Row::new("managedblockchain-query"),
    Row::new("managedblockchain.bitcoin.mainnet"),
    Row::new("managedblockchain.bitcoin.testnet"),
    Row::new("mediaconnect"),
    Row::new("medical-imaging"),
    Row::new("memory-db"),
    Row::new("mgn"),
    Row::new("migrationhub-orchestrator"),
    Row::new("migrationhub-strategy"),
    Row::new("models-v2-lex"),
    Row::new("mq"),
    Row::new("neptune-graph"),
    Row::new("neptune-graph-data"),
    Row::new("network-firewall"),
    Row::new("networkflowmonitor"),
    Row::new("networkflowmonitorreports"),
    Row::new("networkmonitor"),
    Row::new("observabilityadmin"),
    Row::new("organizations"),
    Row::new("outposts"),
    Row::new("panorama"),
    Row::new("payment-cryptography.controlplane"),
    Row::new("payment-cryptography.dataplane"),
    Row::new("pca-connector-ad"),
    Row::new("pca-connector-scep"),
    Row::new("pcs"),
    Row::new("personalize"),
    Row::new("personalize-events"),
    Row::new("personalize-runtime"),
    Row::new("pi"),
    Row::new("pinpoint"),
    Row::new("pinpoint-sms-voice-v2"),
    Row::new("pipes"),
    Row::new("pipes-data"),
    Row::new("polly"),
    Row::new("pricing.api"),
    Row::new("private-networks"),
    Row::new("profile"),
    Row::new("proton"),
    Row::new("q"),
    Row::new("qapps"),
    Row::new("ram"),
    Row::new("rbin"),
    Row::new("rds"),
    Row::new("rds-data"),
    Row::new("redshift"),
    Row::new("redshift-data"),
    Row::new("redshift-serverless"),
    Row::new("refactor-spaces"),
    Row::new("repostspace"),
    Row::new("resource-groups"),
    Row::new("rolesanywhere"),
    Row::new("rum"),
    Row::new("rum-dataplane"),
    Row::new("runtime-medical-imaging"),
    Row::new("runtime-v2-lex"),
    Row::new("s3tables"),
    Row::new("sagemaker.featurestore-runtime"),
    Row::new("sagemaker.metrics"),
    Row::new("schemas"),
    Row::new("scn"),
    Row::new("securityhub"),
    Row::new("securitylake"),
    Row::new("serverlessrepo"),
    Row::new("servicecatalog-appregistry"),
    Row::new("servicediscovery"),
    Row::new("shield"),
    // Like `console`: records in private hosted zones of your own.
    // Source: <https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/dns-configuration-console-signin.html>
    Row::new("signin").no_private_dns(),
    Row::new("simspaceweaver"),
    Row::new("snow-device-management"),
    Row::new("social-messaging"),
    Row::new("ssm-contacts"),
    Row::new("ssm-incidents"),
    Row::new("ssm-quicksetup"),
    Row::new("streaming-rekognition"),
    Row::new("swf"),
    Row::new("sync-states"),
    Row::new("synthetics"),
    Row::new("tagging"),
    Row::new("tax"),
    Row::new("textract"),
    Row::new("thinclient.api"),
    Row::new("timestream-influxdb"),
    Row::new("tnb"),
    Row::new("transcribe"),
    Row::new("transcribestreaming"),
    Row::new("transfer"),
    Row::new("translate"),
    Row::new("trustedadvisor"),
    Row::new("verifiedpermissions"),
    Row::new("voiceid"),
    Row::new("vpc-lattice"),
    Row::new("wafv2"),
    Row::new("wellarchitected"),
    Row::new("wisdom"),
    Row::new("workmail"),
    Row::new("workspaces-web"),
    Row::new("xray"),
];
