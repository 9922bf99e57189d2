"""The region's network and shared file system (stacks.constructs.network): the functions that mount
the search file system run in the VPC with it mounted, the others stay out of it; the nested stack
holds an isolated VPC with the endpoints those functions' calls need, security groups that allow
NFS and HTTPS from the functions only, and an encrypted EFS file system that is a cache."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from stacks.constructs.network import interface_services, services_called
from stacks.manifest import SEARCH_FILE_SYSTEM, Manifest
from stacks.manifest_model import FileSystem, Function
from tests.stacks import cfn

MOUNTING = {"gui_search", "gui_graphql", "gui_indexer", "gui_index_rebuild"}


def _nested_stack_id(template: dict[str, Any]) -> str:
    (stack_id, _) = cfn.one(template, "AWS::CloudFormation::Stack")
    return stack_id


def _nested_logical_id(template: dict[str, Any], nested: dict[str, Any], value: Any) -> str:
    """The nested stack's logical id a parent's `Fn::GetAtt [<stack>, Outputs.<name>]` reads."""
    stack_id, attribute = value["Fn::GetAtt"]
    assert stack_id == _nested_stack_id(template)
    (logical_id,) = cfn.references(nested["Outputs"][attribute.removeprefix("Outputs.")]["Value"])
    return logical_id


def _groups(nested: dict[str, Any]) -> dict[str, str]:
    """The nested stack's security groups by what they guard (their description's head)."""
    found = {
        word: logical_id
        for logical_id, group in cfn.resources(nested, "AWS::EC2::SecurityGroup").items()
        for word in ("functions", "file system", "endpoints")
        if word in cfn.props(group)["GroupDescription"].lower().split(":")[0]
    }
    assert set(found) == {"functions", "file system", "endpoints"}, found
    return found


def test_the_four_search_functions_mount_the_file_system_and_no_snap_start(manifest: Manifest) -> None:
    assert {fn.name for fn in manifest.mounting(SEARCH_FILE_SYSTEM.name)} == MOUNTING
    for fn in manifest.mounting(SEARCH_FILE_SYSTEM.name):
        assert not fn.snap_start, fn.name


def test_the_model_refuses_snap_start_with_a_file_system_and_unknown_file_systems(manifest: Manifest) -> None:
    with pytest.raises(ValueError, match=r"SnapStart .* EFS"):
        Function(name="f", handler="f.handler.handler", purpose="-", snap_start=True, file_system="search")
    stray = Function(name="f", handler="f.handler.handler", purpose="-", file_system="elsewhere")
    with pytest.raises(ValueError, match="no file system 'elsewhere'"):
        dataclasses.replace(manifest, functions=(*manifest.functions, stray))
    for path in ("/search", "/mnt/", "/mnt/a/b", "/tmp/search"):
        with pytest.raises(ValueError, match="/mnt/<name>"):
            FileSystem("x", "-", mount_path=path)
    with pytest.raises(ValueError, match="octal"):
        FileSystem("x", "-", mount_path="/mnt/x", permissions="rwx")


def test_a_mounting_function_learns_where_the_file_system_is(manifest: Manifest) -> None:
    for fn in manifest.all_functions():
        env = manifest.environment_for(
            fn,
            table_names=dict.fromkeys(fn.stores, "t"),
            bucket_name="b",
            bus_name="bus",
            region="eu-west-1",
            stage="test",
            connections_url="https://c",
            quarantine_url="https://q",
            queue_urls=dict.fromkeys(fn.sends_to, "https://w"),
            secret_arns=dict.fromkeys(fn.secrets, "arn:s"),
        )
        if fn.name in MOUNTING:
            assert env[SEARCH_FILE_SYSTEM.env_var] == "/mnt/search", fn.name
        else:
            assert SEARCH_FILE_SYSTEM.env_var not in env, fn.name
    assert SEARCH_FILE_SYSTEM.env_var == "SEARCH_SHARED_DIR"  # what gui_search and gui_indexer read


def test_only_the_mounting_functions_run_in_the_vpc_with_the_access_point_mounted(
    template: dict[str, Any], nested: dict[str, Any], manifest: Manifest
) -> None:
    functions = cfn.functions_by_name(template)
    function_sg = _groups(nested)["functions"]
    (access_point_id, _) = cfn.one(nested, "AWS::EFS::AccessPoint")
    subnets = set(cfn.resources(nested, "AWS::EC2::Subnet"))
    for fn in manifest.all_functions():
        props = cfn.props(template["Resources"][functions[fn.name]])
        if fn.name not in MOUNTING:
            assert "VpcConfig" not in props, fn.name
            assert "FileSystemConfigs" not in props, fn.name
            continue
        vpc = props["VpcConfig"]
        assert [_nested_logical_id(template, nested, g) for g in vpc["SecurityGroupIds"]] == [function_sg]
        assert {_nested_logical_id(template, nested, s) for s in vpc["SubnetIds"]} == subnets
        (mount,) = props["FileSystemConfigs"]
        assert mount["LocalMountPath"] == SEARCH_FILE_SYSTEM.mount_path
        assert _nested_logical_id(template, nested, mount["Arn"]["Fn::Join"][1][-1]) == access_point_id
        assert props["Environment"]["Variables"]["SEARCH_SHARED_DIR"] == "/mnt/search"
        # The indexes are on the file system: /tmp holds at most a batch's room, no copies.
        assert props.get("EphemeralStorage", {"Size": 512})["Size"] <= 1024, fn.name
        assert "SnapStart" not in props, fn.name
        assert "SEARCH_CACHE_MB" not in props["Environment"]["Variables"], fn.name
        assert "INDEX_WORK_MB" not in props["Environment"]["Variables"], fn.name


def test_the_vpc_is_isolated_with_the_endpoints_the_functions_calls_need(
    nested: dict[str, Any], manifest: Manifest
) -> None:
    assert len(cfn.resources(nested, "AWS::EC2::VPC")) == 1
    subnets = cfn.resources(nested, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert len({str(cfn.props(s)["AvailabilityZone"]) for s in subnets.values()}) == 2
    assert not any(cfn.props(s).get("MapPublicIpOnLaunch") for s in subnets.values())
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::Route"):
        assert not cfn.resources(nested, kind), kind
    # The functions' own calls: DynamoDB and S3 (gateways), and the rest through interface endpoints.
    assert services_called(manifest) == ["dynamodb", "events", "s3", "secretsmanager", "sqs"]
    endpoints = cfn.resources(nested, "AWS::EC2::VPCEndpoint").values()
    gateways = {
        cfn.props(e)["ServiceName"]["Fn::Join"][1][-1]
        for e in endpoints
        if cfn.props(e)["VpcEndpointType"] == "Gateway"
    }
    assert gateways == {".s3", ".dynamodb"}
    interfaces = [cfn.props(e) for e in endpoints if cfn.props(e)["VpcEndpointType"] == "Interface"]
    assert sorted(e["ServiceName"].rsplit(".", 1)[-1] for e in interfaces) == interface_services(manifest)
    assert interface_services(manifest) == ["events", "secretsmanager", "sqs"]
    assert all(e["PrivateDnsEnabled"] for e in interfaces)
    (flow_log,) = cfn.resources(nested, "AWS::EC2::FlowLog").values()
    assert cfn.props(flow_log)["ResourceType"] == "VPC"


def test_the_security_groups_let_in_nfs_and_https_from_the_functions_only(nested: dict[str, Any]) -> None:
    groups = cfn.resources(nested, "AWS::EC2::SecurityGroup")
    by_role = _groups(nested)
    ingress = [cfn.props(r) for r in cfn.resources(nested, "AWS::EC2::SecurityGroupIngress").values()]
    for group in groups.values():
        assert not cfn.props(group).get("SecurityGroupIngress"), group  # no inline rule from a CIDR
    rules = {
        (
            *cfn.references(r["GroupId"]),
            *cfn.references(r["SourceSecurityGroupId"]),
            r["FromPort"],
            r["ToPort"],
        )
        for r in ingress
    }
    assert rules == {
        (by_role["file system"], by_role["functions"], 2049, 2049),
        (by_role["endpoints"], by_role["functions"], 443, 443),
    }
    egress = cfn.props(groups[by_role["functions"]])["SecurityGroupEgress"]
    assert [(e["CidrIp"], e["FromPort"], e["ToPort"]) for e in egress] == [("0.0.0.0/0", 443, 443)]
    (nfs_out,) = [cfn.props(r) for r in cfn.resources(nested, "AWS::EC2::SecurityGroupEgress").values()]
    assert cfn.references(nfs_out["DestinationSecurityGroupId"]) == {by_role["file system"]}
    assert (nfs_out["FromPort"], nfs_out["ToPort"]) == (2049, 2049)


def test_the_file_system_is_an_encrypted_elastic_cache_with_one_access_point(nested: dict[str, Any]) -> None:
    (fs_id, file_system) = cfn.one(nested, "AWS::EFS::FileSystem")
    props = cfn.props(file_system)
    assert props["Encrypted"] is True
    assert props["ThroughputMode"] == "elastic"
    assert "LifecyclePolicies" not in props  # random reads: no transition to Infrequent Access
    assert file_system["DeletionPolicy"] == "Delete"  # a cache of the bucket
    assert props.get("BackupPolicy", {"Status": "DISABLED"})["Status"] == "DISABLED"
    assert len(cfn.resources(nested, "AWS::EFS::MountTarget")) == 2
    (_, access_point) = cfn.one(nested, "AWS::EFS::AccessPoint")
    assert cfn.references(cfn.props(access_point)["FileSystemId"]) == {fs_id}
    assert cfn.props(access_point)["PosixUser"] == {"Uid": "1000", "Gid": "1000"}
    assert cfn.props(access_point)["RootDirectory"] == {
        "Path": "/search",
        "CreationInfo": {"OwnerUid": "1000", "OwnerGid": "1000", "Permissions": "750"},
    }


def test_the_network_costs_the_parent_stack_one_resource(
    template: dict[str, Any], nested: dict[str, Any]
) -> None:
    """The parent holds close to CloudFormation's 500 (test_snap_start); the network is one nested stack."""
    assert len(cfn.resources(template, "AWS::CloudFormation::Stack")) == 1
    for kind in ("AWS::EC2::VPC", "AWS::EFS::FileSystem", "AWS::EC2::SecurityGroup", "AWS::EC2::VPCEndpoint"):
        assert not cfn.resources(template, kind), kind
    assert len(template["Resources"]) <= 490
    assert len(nested["Resources"]) < 100
