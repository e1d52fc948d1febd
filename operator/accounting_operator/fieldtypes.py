"""Constrained string types shared by the spec models, and the secret references.

Patterns follow the Kubernetes validators they stand in for, so a value the CRD accepts
is one the API server also accepts in the child object built from it. Every string has a
maximum length: the API server refuses CEL rules whose cost it cannot bound.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from accounting_operator.validation import Model, Rule

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"

DnsSubdomain = Annotated[
    str, Field(pattern=rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$", min_length=1, max_length=253)
]
"""An object name (Secret, IngressClass, ClusterIssuer, ...)."""

Hostname = Annotated[
    str, Field(pattern=rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$", min_length=1, max_length=253)
]
"""A lower-case DNS name or an IPv4 address."""

IngressHost = Annotated[
    str, Field(pattern=rf"^(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})+$", min_length=1, max_length=253)
]
"""A fully qualified DNS name, optionally with a leading wildcard label."""

SecretKey = Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", min_length=1, max_length=253)]
"""A key inside a Secret."""

Quantity = Annotated[
    str,
    Field(
        pattern=r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][0-9]+)?$",
        max_length=32,
    ),
]
"""A resource quantity such as 250m, 1.5 or 512Mi."""

Duration = Annotated[str, Field(pattern=r"^[0-9]+(ms|s|m|h)$", max_length=16)]
"""A Prometheus duration such as 30s or 1m."""

LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
"""A Kubernetes label key: an optional DNS-subdomain prefix and a name (the keys of a
map field are checked by a CEL rule: CRD schemas have no patternProperties)."""

LabelValue = Annotated[
    str, Field(pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$", max_length=63)
]
"""A Kubernetes label value (may be empty)."""

CronSchedule = Annotated[str, Field(min_length=1, max_length=128)]
"""A cron schedule; its shape is checked by a rule on the owning object (readable message)."""


class ResourceAmounts(Model):
    """CPU and memory amounts."""

    cpu: Quantity = Field(description="CPU, e.g. 250m.")
    memory: Quantity = Field(description="Memory, e.g. 512Mi.")


class Resources(Model):
    """Container resource requests and limits."""

    requests: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="250m", memory="512Mi"),
        description="What the scheduler reserves per pod (and what HPA targets refer to).",
    )
    limits: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="500m", memory="1Gi"),
        description="The most a pod may use.",
    )


class SecretKeyRef(Model):
    """A key of a Secret in the platform's namespace."""

    name: DnsSubdomain = Field(description="Name of the Secret, in the platform's namespace.")
    key: SecretKey = Field(description="Key within the Secret that holds the value.")


class DatabaseCredentialsRef(Model):
    """A Secret holding a PostgreSQL user name and password."""

    name: DnsSubdomain = Field(description="Name of the Secret, in the platform's namespace.")
    username_key: SecretKey = Field("username", description="Key of the user name.")
    password_key: SecretKey = Field("password", description="Key of the password.")

    rules = (
        Rule(
            cel="self.usernameKey != self.passwordKey",
            message="usernameKey and passwordKey must name different keys of the Secret",
            check=lambda m: m.username_key != m.password_key,
            field_path=".passwordKey",
        ),
    )


class S3CredentialsRef(Model):
    """A Secret holding an S3 access key pair."""

    name: DnsSubdomain = Field(description="Name of the Secret, in the platform's namespace.")
    access_key_id_key: SecretKey = Field(
        "AWS_ACCESS_KEY_ID", description="Key of the access key id."
    )
    secret_access_key_key: SecretKey = Field(
        "AWS_SECRET_ACCESS_KEY", description="Key of the secret access key."
    )

    rules = (
        Rule(
            cel="self.accessKeyIdKey != self.secretAccessKeyKey",
            message="accessKeyIdKey and secretAccessKeyKey must name different keys of the Secret",
            check=lambda m: m.access_key_id_key != m.secret_access_key_key,
            field_path=".secretAccessKeyKey",
        ),
    )
