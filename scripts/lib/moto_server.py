"""moto server with drkit's additions: the Aurora Global Database operations moto 5.2 lacks or
gets wrong, written from the RDS API reference. Run as `python moto_server.py -H HOST -p PORT`
(the arguments of `moto_server`).

What moto 5.2.6 does, and what this file changes (a **fake** layer over moto, named as such in
README's feature table):

- `SwitchoverGlobalCluster` and `FailoverGlobalCluster` are not implemented (HTML 500). Here:
  the target (an ARN or an identifier of a secondary) becomes the writer and the old writer a
  secondary, at once (AWS takes minutes and shows `FailoverState`; drkit's mocks cover those
  states). `FailoverGlobalCluster` without `AllowDataLoss` or `Switchover` is refused with
  `InvalidParameterCombination`, as AWS does; the target must be a member
  (`InvalidParameterValue` otherwise) and not the writer (`InvalidGlobalClusterStateFault`).
- `RemoveFromGlobalCluster` called in the secondary's region looks for the global cluster in
  that region's backend only (moto keeps global clusters in us-east-1's) and answers success
  with nothing done. Here: the member is found by ARN or identifier in any region, removed,
  and becomes a standalone writer cluster with the global database's master user; an unknown global cluster is
  `GlobalClusterNotFoundFault`, a cluster that is not a member `DBClusterNotFoundFault`.
- `CreateGlobalCluster` with `SourceDBClusterIdentifier` leaves the source no writer, looks
  for the source in us-east-1's backend only (a source in another Region is "not found"), and
  replaces a global cluster of the same name. Here the source is found in its ARN's Region and
  is the writer, and an existing name is `GlobalClusterAlreadyExistsFault`, as on AWS.
- `DeleteGlobalCluster` of an unknown global cluster fails with a `KeyError` (HTTP 500). Here:
  `GlobalClusterNotFoundFault`.

- `SimulatePrincipalPolicy` (IAM's policy simulator) is not implemented. Here: for a role or
  user (with its groups) named by `PolicySourceArn`, each of `ActionNames` is evaluated for
  each of `ResourceArns` (default `*`) against the principal's inline and attached policies
  with moto's own policy evaluator (the one its access control uses): an explicit `Deny` is
  `explicitDeny`, an `Allow` `allowed`, neither `implicitDeny`; a permissions boundary must
  allow it too. No conditions, no SCPs, one page. An unknown principal is `NoSuchEntity`.

And one fix to moto's own test API: `GET /moto-api/data.json` (every model instance, what
drkit's SNS tests read the sent messages from, no AWS API returning them) answers 500 as soon
as one attribute of any instance in any service raises anything but `TypeError`,
`AttributeError` or `ValueError` when read (a property of a model the other tests created).
Here such an attribute is left out, as moto already leaves out those it cannot serialise.
"""

import sys

from moto.core.responses import ActionResult
from moto.iam import responses as iam_responses
from moto.moto_api._internal import responses as moto_api_responses
from moto.rds import models, responses
from moto.rds.exceptions import (
    DBClusterNotFoundError,
    InvalidParameterCombination,
    InvalidParameterValue,
    RDSClientError,
)


class GlobalClusterNotFound(RDSClientError):
    def __init__(self, identifier):
        super().__init__(
            "GlobalClusterNotFoundFault", f"Global cluster {identifier} not found."
        )


class InvalidGlobalClusterState(RDSClientError):
    def __init__(self, message):
        super().__init__("InvalidGlobalClusterStateFault", message)


def _global_cluster(response, identifier):
    clusters = response.global_backend.global_clusters
    if identifier not in clusters:
        raise GlobalClusterNotFound(identifier)
    return clusters[identifier]


def _member(global_cluster, identifier):
    for member in global_cluster.members:
        if identifier in (member.db_cluster_arn, member.db_cluster_identifier):
            return member
    return None


def _switch(response, allow_data_loss):
    params = response.params
    global_cluster = _global_cluster(response, params["GlobalClusterIdentifier"])
    target = _member(global_cluster, params["TargetDbClusterIdentifier"])
    if target is None:
        raise InvalidParameterValue(
            f"{params['TargetDbClusterIdentifier']} is not a member of global cluster "
            f"{global_cluster.global_cluster_identifier}"
        )
    if target.is_writer:
        raise InvalidGlobalClusterState(
            f"{target.db_cluster_identifier} is already the primary cluster of "
            f"{global_cluster.global_cluster_identifier}"
        )
    for member in global_cluster.members:
        member.is_writer = member is target
    return ActionResult({"GlobalCluster": global_cluster})


def switchover_global_cluster(self):
    return _switch(self, allow_data_loss=False)


def failover_global_cluster(self):
    allow = str(self.params.get("AllowDataLoss", "")).lower() == "true"
    switchover = str(self.params.get("Switchover", "")).lower() == "true"
    if allow == switchover:
        raise InvalidParameterCombination(
            "Specify exactly one of AllowDataLoss and Switchover"
        )
    return _switch(self, allow_data_loss=allow)


def remove_from_global_cluster(self):
    params = self.params
    global_cluster = _global_cluster(self, params["GlobalClusterIdentifier"])
    member = _member(global_cluster, params["DbClusterIdentifier"])
    if member is None:
        raise DBClusterNotFoundError(params["DbClusterIdentifier"])
    writer = next((m for m in global_cluster.members if m.is_writer), None)
    global_cluster.members.remove(member)
    member.global_cluster_identifier = None
    member.is_writer = True
    # A secondary shares the global database's master user; moto keeps it on the primary only,
    # and a standalone cluster without one cannot be restored (RestoreDBClusterToPointInTime).
    if writer is not None and not member.master_username:
        member.master_username = writer.master_username
    if "_master_user_password" not in member.__dict__:
        # moto keeps no password for a global database's members; a standalone cluster must
        # have one (never read back: moto refuses to, as AWS does).
        member.__dict__["_master_user_password"] = "moto-global-member"
    return ActionResult({"GlobalCluster": global_cluster})


_create_global_cluster = models.RDSBackend.create_global_cluster
_delete_global_cluster = models.RDSBackend.delete_global_cluster


def create_global_cluster(self, *args, **kwargs):
    identifier = kwargs.get("global_cluster_identifier")
    if identifier in self.global_clusters:
        raise RDSClientError(
            "GlobalClusterAlreadyExistsFault",
            f"Global cluster {identifier} already exists.",
        )
    source_arn = kwargs.get("source_db_cluster_identifier") or ""
    parts = source_arn.split(":")
    if len(parts) == 7 and parts[3] != self.region_name:
        # moto looks for the source in us-east-1's backend only: find it in its own Region.
        source = models.rds_backends[self.account_id][parts[3]].describe_db_clusters(
            db_cluster_identifier=source_arn
        )[0]
        kwargs["source_db_cluster_identifier"] = None
        kwargs["engine"] = source.engine
        kwargs["engine_version"] = source.engine_version
        global_cluster = _create_global_cluster(self, *args, **kwargs)
        source.global_cluster_identifier = global_cluster.global_cluster_arn
        global_cluster.members.append(source)
    else:
        global_cluster = _create_global_cluster(self, *args, **kwargs)
    if len(global_cluster.members) == 1:
        global_cluster.members[0].is_writer = True
    return global_cluster


def simulate_principal_policy(self):
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.iam.exceptions import NotFoundException

    source = self._get_param("PolicySourceArn")
    actions = self._get_param("ActionNames", [])
    resources = self._get_param("ResourceArns", []) or ["*"]
    kind, _, name = source.split(":", 5)[-1].partition("/")
    name = name.rsplit("/", 1)[-1]
    backend = self.backend
    if kind == "role":
        holders = [backend.get_role(name)]
    elif kind == "user":
        holders = [backend.get_user(name), *backend.get_groups_for_user(name)]
    else:
        raise NotFoundException(f"The principal {source} cannot be simulated")
    policies = []
    for holder in holders:
        policies += [IAMPolicy(doc) for doc in holder.policies.values()]
        policies += [IAMPolicy(p) for p in holder.managed_policies.values()]
    boundary_arn = getattr(holders[0], "permissions_boundary_arn", None) or getattr(
        holders[0], "permissions_boundary", None
    )
    boundary = IAMPolicy(backend.get_policy(boundary_arn)) if boundary_arn else None
    results = []
    for action in actions:
        for resource in resources:
            decision = "implicitDeny"
            for policy in policies:
                found = policy.is_action_permitted(action, resource)
                if found == PermissionResult.DENIED:
                    decision = "explicitDeny"
                    break
                if found == PermissionResult.PERMITTED:
                    decision = "allowed"
            if (
                decision == "allowed"
                and boundary is not None
                and boundary.is_action_permitted(action, resource)
                != PermissionResult.PERMITTED
            ):
                decision = "implicitDeny"
            results.append(
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": decision,
                }
            )
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def delete_global_cluster(self, global_cluster_identifier):
    # moto answers an unknown global cluster with a KeyError (HTTP 500).
    if global_cluster_identifier not in self.global_clusters:
        raise GlobalClusterNotFound(global_cluster_identifier)
    return _delete_global_cluster(self, global_cluster_identifier)


def model_data(self, request, full_url, headers):
    import json

    from moto.core.model_instances import model_data as tracked

    results = {}
    for service in sorted(tracked):
        results[service] = {}
        for name in sorted(tracked[service]):
            results[service][name] = []
            for instance in tracked[service][name].instances_tracked:
                found = {}
                for attr in dir(instance):
                    if attr.startswith("_"):
                        continue
                    try:
                        value = getattr(instance, attr)
                        json.dumps(value)
                    except Exception:  # noqa: BLE001 - any failing attribute is left out
                        continue
                    found[attr] = value
                results[service][name].append(found)
    return 200, {"Content-Type": "application/javascript"}, json.dumps(results)


moto_api_responses.MotoAPIResponse.model_data = model_data
iam_responses.IamResponse.simulate_principal_policy = simulate_principal_policy
responses.RDSResponse.switchover_global_cluster = switchover_global_cluster
responses.RDSResponse.failover_global_cluster = failover_global_cluster
responses.RDSResponse.remove_from_global_cluster = remove_from_global_cluster
models.RDSBackend.create_global_cluster = create_global_cluster
models.RDSBackend.delete_global_cluster = delete_global_cluster

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
