"""Data: the network, PostgreSQL 16 (pgvector) behind RDS Proxy, its rotated secret, the
KMS-encrypted buckets, and the schema migrations applied at every deploy that changes them."""

from __future__ import annotations

from typing import Any

from aws_cdk import (
    CfnOutput,
    Duration,
    Stack,
    triggers,
)
from aws_cdk import (
    aws_ec2 as ec2,
)
from aws_cdk import (
    aws_kms as kms,
)
from aws_cdk import (
    aws_logs as logs,
)
from aws_cdk import (
    aws_rds as rds,
)
from aws_cdk import (
    aws_s3 as s3,
)
from aws_cdk import (
    aws_secretsmanager as secretsmanager,
)
from constructs import Construct

from stacks import nag
from stacks.config import StageConfig
from stacks.runtime import (
    AssetPaths,
    FunctionFactory,
    Network,
    base_environment,
    grant_tenant_secrets,
    masking_key_secret_name,
)

DATABASE_NAME = "flightdeck"
DATABASE_USER = "flightdeck"
POSTGRES_VERSION = rds.PostgresEngineVersion.VER_16_6
MIGRATE_HANDLER = "functions.migrate.handler.handler"
APP_SUBNETS = "app"
DB_SUBNETS = "db"


class DataStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        assets: AssetPaths,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = config.removal_policy

        self.key = kms.Key(
            self,
            "DataKey",
            description=f"{config.name}: database storage, secrets and buckets",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # Personal fields of stored triggers and outbox effects (`flightdeck.store.sealing`):
        # their own key, so that only the functions that seal or open them can use it, while
        # the data key above serves every reader of the buckets and the database. Rotated
        # yearly by KMS; old material stays for the envelopes it sealed.
        self.trigger_key = kms.Key(
            self,
            "TriggerKey",
            description=f"{config.name}: personal fields of stored triggers and effects",
            enable_key_rotation=True,
            removal_policy=removal,
        )

        # The HMAC key of masked tokens (`flightdeck.privacy`), the same in every function.
        # Not rotated: a new key would give every address a new token, and the tokens of logs
        # before and after could no longer be matched; it guards no access (no credential).
        self.masking_key = secretsmanager.Secret(
            self,
            "MaskingKey",
            secret_name=masking_key_secret_name(config),
            description=f"{config.name}: key of the tokens that replace personal data in logs",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=removal,
        )
        nag.waive(self.masking_key, nag.MASKING_KEY_ROTATION)

        # Network: functions in private subnets (NAT for n8n callbacks and model endpoints),
        # the database in isolated subnets; AWS APIs the functions call go through endpoints.
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=config.log_retention, removal_policy=removal
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name=APP_SUBNETS,
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=22,
                ),
                ec2.SubnetConfiguration(
                    name=DB_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        app_subnets = ec2.SubnetSelection(subnet_group_name=APP_SUBNETS)
        db_subnets = ec2.SubnetSelection(subnet_group_name=DB_SUBNETS)
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.functions_sg = ec2.SecurityGroup(
            self, "FunctionsSg", vpc=self.vpc, description="Flightdeck Lambda functions"
        )
        endpoints_sg = ec2.SecurityGroup(
            self,
            "EndpointsSg",
            vpc=self.vpc,
            description="Interface endpoints, reachable from the functions only",
            allow_all_outbound=False,
        )
        endpoints_sg.add_ingress_rule(self.functions_sg, ec2.Port.tcp(443), "HTTPS from functions")
        for name, service in (
            ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ("StepFunctions", ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS),
            ("BedrockRuntime", ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME),
            ("Kms", ec2.InterfaceVpcEndpointAwsService.KMS),
        ):
            self.vpc.add_interface_endpoint(
                name, service=service, subnets=app_subnets, security_groups=[endpoints_sg]
            )
        self.network = Network(vpc=self.vpc, subnets=app_subnets, security_group=self.functions_sg)
        # The callback dispatcher POSTs to tenants' receivers (n8n) on the internet through the
        # NAT gateway: its own group allows HTTPS out to anywhere and PostgreSQL to the proxy
        # (below), nothing else. HTTPS to the interface endpoints is part of "anywhere".
        self.callbacks_sg = ec2.SecurityGroup(
            self,
            "CallbacksSg",
            vpc=self.vpc,
            description="Flightdeck callback dispatcher: HTTPS out, PostgreSQL to the proxy",
            allow_all_outbound=False,
        )
        self.callbacks_sg.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to callback receivers and AWS APIs"
        )
        endpoints_sg.add_ingress_rule(
            self.callbacks_sg, ec2.Port.tcp(443), "HTTPS from the callback dispatcher"
        )
        self.callbacks_network = Network(
            vpc=self.vpc, subnets=app_subnets, security_group=self.callbacks_sg
        )

        # Database: PostgreSQL 16 (pgvector is an extension the migrations create), TLS only,
        # reached through RDS Proxy so Lambda concurrency cannot exhaust its connections.
        engine = rds.DatabaseInstanceEngine.postgres(version=POSTGRES_VERSION)
        db_sg = ec2.SecurityGroup(
            self, "DatabaseSg", vpc=self.vpc, description="PostgreSQL", allow_all_outbound=False
        )
        proxy_sg = ec2.SecurityGroup(self, "ProxySg", vpc=self.vpc, description="RDS Proxy")
        self.database = rds.DatabaseInstance(
            self,
            "Database",
            engine=engine,
            instance_type=config.db_instance_type,
            vpc=self.vpc,
            vpc_subnets=db_subnets,
            security_groups=[db_sg],
            database_name=DATABASE_NAME,
            # Encrypted with Secrets Manager's own key: a customer key here would put every
            # reader's role into this stack's key policy (a cycle with the function stacks).
            credentials=rds.Credentials.from_generated_secret(
                DATABASE_USER, secret_name=f"{config.name}/database"
            ),
            parameter_group=rds.ParameterGroup(
                self,
                "Parameters",
                engine=engine,
                description="Flightdeck: TLS only, slow statements logged",
                parameters={"rds.force_ssl": "1", "log_min_duration_statement": "500"},
            ),
            storage_encrypted=True,
            storage_encryption_key=self.key,
            allocated_storage=config.db_allocated_gb,
            max_allocated_storage=config.db_allocated_gb * 5,
            multi_az=config.db_multi_az,
            backup_retention=Duration.days(config.db_backup_days),
            deletion_protection=config.retain,
            removal_policy=removal,
            publicly_accessible=False,
            auto_minor_version_upgrade=True,
            iam_authentication=True,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            cloudwatch_logs_retention=config.log_retention,
        )
        assert self.database.secret is not None
        self.secret: secretsmanager.ISecret = self.database.secret
        # Rotation changes the password on the instance itself (the secret's host), so the
        # rotation function alone, in its own security group, reaches the database directly.
        self.rotation_sg = ec2.SecurityGroup(
            self, "RotationSg", vpc=self.vpc, description="Database secret rotation"
        )
        endpoints_sg.add_ingress_rule(self.rotation_sg, ec2.Port.tcp(443), "HTTPS from rotation")
        self.rotation = self.database.add_rotation_single_user(
            automatically_after=Duration.days(30),
            vpc_subnets=app_subnets,
            security_group=self.rotation_sg,
        )
        self.proxy = self.database.add_proxy(
            "Proxy",
            secrets=[self.secret],
            vpc=self.vpc,
            vpc_subnets=app_subnets,
            security_groups=[proxy_sg],
            require_tls=True,
        )
        # Functions reach PostgreSQL only through the proxy: their settings carry the proxy
        # endpoint (EnvVar.DATABASE_HOST), which replaces the secret's host, the instance.
        db_sg.add_ingress_rule(proxy_sg, ec2.Port.tcp(5432), "PostgreSQL from RDS Proxy")
        proxy_sg.add_ingress_rule(
            self.functions_sg, ec2.Port.tcp(5432), "PostgreSQL from functions"
        )
        self.callbacks_sg.connections.allow_to(
            proxy_sg, ec2.Port.tcp(5432), "PostgreSQL from the callback dispatcher"
        )
        self.database_host = self.proxy.endpoint

        # Buckets: KMS-encrypted, private, TLS-only, versioned, access-logged.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=removal,
            auto_delete_objects=not config.retain,
        )
        nag.waive(
            self.access_logs,
            nag.Waiver(
                "AwsSolutions-S1",
                "This is the server access log bucket itself; logging it would recurse.",
            ),
        )
        self.documents = self._bucket("Documents", config)
        # Knowledge documents land under tenants/<id>/knowledge/: the bucket's events go to
        # EventBridge, where the ingest stack's rule picks those objects out.
        self.artifacts = self._bucket("Artifacts", config, event_bridge=True)

        # Migrations: a trigger runs the migrator after the database and proxy exist, and again
        # whenever the function (its code or its layers: the migrations) changes.
        factory = FunctionFactory(self, "Runtime", assets=assets, config=config)
        self.migrate_function = factory.function(
            self,
            "Migrate",
            handler=MIGRATE_HANDLER,
            description="Applies the schema migrations at deploy",
            environment=base_environment(
                config,
                database_secret_arn=self.secret.secret_arn,
                database_host=self.database_host,
                artifact_bucket=self.artifacts.bucket_name,
                trigger_key_arn=self.trigger_key.key_arn,
            ),
            network=self.network,
            timeout=Duration.minutes(5),
        )
        self.secret.grant_read(self.migrate_function)
        # Invoked with {"seal_triggers": true}, it seals triggers stored in plaintext, inline
        # or in the artifact bucket (flightdeck.engine.seal_triggers): encrypt only.
        self.trigger_key.grant_encrypt(self.migrate_function)
        self.artifacts.grant_read_write(self.migrate_function)
        # After the migrations it moves plaintext signing secrets into Secrets Manager.
        grant_tenant_secrets(self.migrate_function, config)
        self.migration = triggers.Trigger(
            self,
            "MigrateOnDeploy",
            handler=self.migrate_function,
            execute_after=[self.database, self.proxy],
            execute_on_handler_change=True,
            timeout=Duration.minutes(5),
        )

        CfnOutput(self, "DatabaseSecretArn", value=self.secret.secret_arn)
        CfnOutput(self, "ProxyEndpoint", value=self.proxy.endpoint)
        CfnOutput(self, "ArtifactBucketName", value=self.artifacts.bucket_name)
        CfnOutput(self, "DocumentBucketName", value=self.documents.bucket_name)
        self._waivers(config)

    def _bucket(
        self, construct_id: str, config: StageConfig, *, event_bridge: bool = False
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{construct_id.lower()}/",
            removal_policy=config.removal_policy,
            auto_delete_objects=not config.retain,
            event_bridge_enabled=event_bridge,
            # The bucket that receives knowledge documents also takes the dashboard's presigned
            # PUTs of large files from the browser. The signature authorises each PUT; CORS
            # only lets the browser send it, so any origin may, for PUT with a content type.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.PUT],
                    allowed_origins=["*"],
                    allowed_headers=["content-type"],
                    max_age=3600,
                )
            ]
            if event_bridge
            else None,
        )

    def _waivers(self, config: StageConfig) -> None:
        nag.waive_stack(self, nag.BASIC_EXECUTION_ROLE, nag.CDK_PROVIDER_RUNTIME)
        for child in self.node.children:
            if child.node.id.startswith("LogRetention"):
                nag.waive(child, nag.LOG_RETENTION)
        nag.waive(
            self.database,
            nag.Waiver(
                "AwsSolutions-RDS11",
                "The standard PostgreSQL port is kept: the database is reachable only from the "
                "proxy and rotation security groups in isolated subnets, so a non-default port "
                "would add no protection.",
            ),
        )
        if not config.db_multi_az:
            nag.waive(
                self.database,
                nag.Waiver(
                    "AwsSolutions-RDS3",
                    f"The {config.stage} stage runs a single-AZ instance to keep it cheap; prod "
                    "is Multi-AZ.",
                ),
            )
        if not config.retain:
            nag.waive(
                self.database,
                nag.Waiver(
                    "AwsSolutions-RDS10",
                    "Per-engineer dev stacks are disposable (cdk destroy); staging and prod "
                    "enable deletion protection.",
                ),
            )
