"""The apply layer: the only package that imports the Kubernetes client.

`client.Client` makes the calls; `errors` says what a failure means (retry or not);
`resources` knows where each kind lives in the API.
"""

from accounting_operator.k8s import errors, resources
from accounting_operator.k8s.client import Client, Manifest

__all__ = ["Client", "Manifest", "errors", "resources"]
