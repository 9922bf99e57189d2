"""The region's network and shared file systems (`Manifest.file_systems`), in a nested stack.

A function that mounts a file system (`Function.file_system`) must run in a VPC (Lambda reaches EFS
through a network interface in the function's subnets). So this builds, for the functions that do:

- a VPC of two Availability Zones with isolated subnets only: no internet gateway, no NAT gateway;
- gateway endpoints for S3 and DynamoDB (free), and an interface endpoint with private DNS for each
  other AWS service those functions call from their code, found from their grants (stacks/grants.py)
  rather than listed here, so a new call's service cannot be forgotten: the synth fails on a service
  without a known endpoint. What Lambda does for the role (the event source mappings' pollers,
  on-failure destinations, log delivery, active tracing's segments) leaves from Lambda's side, not
  through the function's network interface, and needs none (the `service_only` grants);
- three security groups: the functions' (out: 2049 to the file systems, 443 to the endpoints and,
  through the route tables, to the gateway endpoints: the isolated subnets route nowhere else), the
  file systems' (in: 2049 from the functions only) and the interface endpoints' (in: 443 from the
  functions only);
- flow logs of rejected traffic into a log group (cdk-nag VPC7);
- per file system: an encrypted EFS file system (elastic throughput, no transition to Infrequent
  Access: an index is read at random, and IA bills every read), a mount target per subnet and one
  access point (the manifest's root, owner and permissions). It is a cache of the bucket, so it is
  destroyed with the stack: nothing in it cannot be fetched again.

The parent stack holds close to CloudFormation's 500 resources (tests/stacks/test_snap_start.py): in
a nested stack all of this costs the parent one resource, and the functions reach the nested stack's
subnets, security group and access points through its outputs (the CDK makes them).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.grants import grants
from stacks.manifest_model import FileSystem, Manifest

NFS_PORT = 2049
HTTPS_PORT = 443
AVAILABILITY_ZONES = 2
FLOW_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
# The AWS services a function's code may call, by their IAM action prefix: gateway endpoints (free,
# in the route tables) or interface endpoints (billed per hour and AZ, and per GB).
GATEWAY_SERVICES: dict[str, ec2.GatewayVpcEndpointAwsService] = {
    "s3": ec2.GatewayVpcEndpointAwsService.S3,
    "dynamodb": ec2.GatewayVpcEndpointAwsService.DYNAMODB,
}
INTERFACE_SERVICES: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "events": ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
    "kinesis": ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS,
    "secretsmanager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
}


def services_called(manifest: Manifest) -> list[str]:
    """The IAM action prefixes (`sqs`, `secretsmanager`...) of what the functions in the network (those
    that mount a file system) call from their own code: the grants that are not Lambda's."""
    return sorted(
        {
            action.split(":", 1)[0]
            for fn in manifest.all_functions()
            if fn.file_system is not None
            for grant in grants(manifest, fn)
            if not grant.service_only
            for action in grant.actions
        }
    )


def interface_services(manifest: Manifest) -> list[str]:
    """The services of `services_called` that need an interface endpoint (the others have gateways)."""
    called = services_called(manifest)
    unknown = [s for s in called if s not in GATEWAY_SERVICES and s not in INTERFACE_SERVICES]
    if unknown:
        raise ValueError(
            f"functions in the region's network call {unknown}, which no VPC endpoint here reaches: "
            "add each to stacks.constructs.network.INTERFACE_SERVICES"
        )
    return [s for s in called if s in INTERFACE_SERVICES]


class Network(cdk.NestedStack):
    """The VPC, its endpoints and security groups, and the manifest's file systems."""

    def __init__(self, scope: Construct, construct_id: str, *, manifest: Manifest) -> None:
        super().__init__(
            scope,
            construct_id,
            description="DomainDetermine GUI backend: the network and shared file systems of the "
            "functions that mount one (search indexes).",
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=AVAILABILITY_ZONES,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            # Nothing is placed in the default security group (every resource here has its own); its
            # restriction would cost a custom resource's Lambda function in the stack.
            restrict_default_security_group=False,
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(
                    self,
                    "FlowLogs",
                    retention=FLOW_LOG_RETENTION,
                    removal_policy=cdk.RemovalPolicy.DESTROY,
                )
            ),
            # What no rule allowed: the traffic the groups below are about. Accepted flows (every NFS
            # read of an index) would multiply the log's volume for little.
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.function_security_group = ec2.SecurityGroup(
            self,
            "FunctionsSecurityGroup",
            vpc=self.vpc,
            description="The functions that mount a file system: NFS to it, HTTPS to the endpoints.",
            allow_all_outbound=False,
        )
        # HTTPS out: to the interface endpoints, and to S3 and DynamoDB through the gateway endpoints,
        # whose addresses are the services' public ranges (prefix lists the CDK cannot name without a
        # lookup). The isolated subnets' route tables send nothing else anywhere.
        self.function_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(HTTPS_PORT),
            "AWS APIs through the VPC endpoints (the subnets have no other route out).",
        )
        for prefix, service in GATEWAY_SERVICES.items():
            self.vpc.add_gateway_endpoint(
                f"{_endpoint_id(prefix)}Endpoint", service=service, subnets=[self.subnets]
            )
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointsSecurityGroup",
            vpc=self.vpc,
            description="The interface endpoints: HTTPS from the functions only.",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(
            self.function_security_group, ec2.Port.tcp(HTTPS_PORT), "The functions' AWS API calls."
        )
        self.interface_endpoints = {
            prefix: self.vpc.add_interface_endpoint(
                f"{_endpoint_id(prefix)}Endpoint",
                service=INTERFACE_SERVICES[prefix],
                private_dns_enabled=True,
                open=False,
                security_groups=[self.endpoint_security_group],
                subnets=self.subnets,
            )
            for prefix in interface_services(manifest)
        }
        self.file_systems: dict[str, efs.FileSystem] = {}
        self.access_points: dict[str, efs.AccessPoint] = {}
        for spec in manifest.file_systems:
            if manifest.mounting(spec.name):
                self._file_system(spec)

    def _file_system(self, spec: FileSystem) -> None:
        construct_id = "".join(part.capitalize() for part in spec.name.replace("_", "-").split("-"))
        security_group = ec2.SecurityGroup(
            self,
            f"{construct_id}FileSystemSecurityGroup",
            vpc=self.vpc,
            description=f"The {spec.name} file system: NFS from the functions only.",
            allow_all_outbound=False,
        )
        file_system = efs.FileSystem(
            self,
            f"{construct_id}FileSystem",
            vpc=self.vpc,
            vpc_subnets=self.subnets,
            security_group=security_group,
            encrypted=True,
            throughput_mode=efs.ThroughputMode.ELASTIC,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            # No lifecycle_policy: files stay in Standard (an index is read at random; reads from
            # Infrequent Access are billed per GB).
            enable_automatic_backups=False,  # a cache: the bucket keeps the data
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.function_security_group.add_egress_rule(
            security_group, ec2.Port.tcp(NFS_PORT), f"NFS to the {spec.name} file system."
        )
        file_system.connections.allow_default_port_from(
            self.function_security_group, "The functions that mount it."
        )
        self.file_systems[spec.name] = file_system
        self.access_points[spec.name] = file_system.add_access_point(
            f"{construct_id}AccessPoint",
            path=spec.root,
            create_acl=efs.Acl(
                owner_uid=str(spec.uid), owner_gid=str(spec.gid), permissions=spec.permissions
            ),
            posix_user=efs.PosixUser(uid=str(spec.uid), gid=str(spec.gid)),
        )

    def mount(self, spec: FileSystem) -> lambda_.FileSystem:
        """What a function's `filesystem` takes to mount `spec` at its mount path: the access point,
        the file system's connections (the CDK opens the function's group to them, as above) and its
        mount targets to wait for. No policies: the role's grants come from stacks/grants.py."""
        file_system = self.file_systems[spec.name]
        return lambda_.FileSystem(
            arn=self.access_points[spec.name].access_point_arn,
            local_mount_path=spec.mount_path,
            connections=file_system.connections,
            dependency=[file_system.mount_targets_available],
            policies=[],
        )


def _endpoint_id(prefix: str) -> str:
    """An endpoint's construct id from its service's action prefix: `secretsmanager` -> `Secretsmanager`."""
    return prefix.replace("-", " ").title().replace(" ", "")
