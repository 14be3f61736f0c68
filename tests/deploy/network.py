"""Which connections a set of NetworkPolicy objects lets through, as the API defines it.

A pod that no policy of type Ingress selects accepts every connection; a selected pod accepts
one that a rule of any policy selecting it allows: every `from` peer matches, or one does (a
pod selector alone means this namespace, a namespace selector alone any pod there, both
together pods there that match), and the port is listed by number or by name, or no port is.
"""

from dataclasses import dataclass, field

OPERATORS = {
    "In": lambda labels, key, values: labels.get(key) in values,
    "NotIn": lambda labels, key, values: key not in labels or labels[key] not in values,
    "Exists": lambda labels, key, values: key in labels,
    "DoesNotExist": lambda labels, key, values: key not in labels,
}


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict = field(default_factory=dict)
    namespace_labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Port:
    number: int
    name: str | None = None
    protocol: str = "TCP"


def selects(selector: dict, labels: dict) -> bool:
    """A label selector: `{}` selects everything, every term must hold."""
    if not all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items()):
        return False
    return all(
        OPERATORS[term["operator"]](labels, term["key"], term.get("values", []))
        for term in selector.get("matchExpressions", [])
    )


def peer_matches(peer: dict, source: Pod, policy_namespace: str) -> bool:
    assert "ipBlock" not in peer, "ipBlock peers are not evaluated here"
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], source.namespace_labels)
    else:
        in_namespace = source.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector", {}), source.labels)


def port_matches(rule_ports: list[dict] | None, port: Port) -> bool:
    if not rule_ports:
        return True
    return any(
        item.get("protocol", "TCP") == port.protocol
        and item.get("port") in (port.number, port.name)
        for item in rule_ports
    )


def allows(policies: list[dict], source: Pod, target: Pod, port: Port) -> bool:
    """Whether `source` may open a connection to `port` of `target` under `policies`."""
    selecting = [
        policy
        for policy in policies
        if policy["metadata"].get("namespace") == target.namespace
        and "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], target.labels)
    ]
    if not selecting:
        return True
    return any(
        port_matches(rule.get("ports"), port)
        and (
            not rule.get("from")
            or any(
                peer_matches(peer, source, policy["metadata"]["namespace"]) for peer in rule["from"]
            )
        )
        for policy in selecting
        for rule in policy["spec"].get("ingress", [])
    )
