"""The one reader of openapi/: everything else consumes what `load_contract` returns."""

from authsvc.contract.dialect import FORMATS, strip_properties, to_json_schema
from authsvc.contract.http import response_key, server_path, server_url
from authsvc.contract.lenient import ContractWarning, Problem
from authsvc.contract.loader import (
    Contract,
    ContractError,
    Operation,
    default_contract_path,
    load_contract,
)
from authsvc.contract.plan import Check, OperationPlan
from authsvc.contract.refs import ContractRefs

__all__ = [
    "FORMATS",
    "Check",
    "Contract",
    "ContractError",
    "ContractRefs",
    "ContractWarning",
    "Operation",
    "OperationPlan",
    "Problem",
    "default_contract_path",
    "load_contract",
    "response_key",
    "server_path",
    "server_url",
    "strip_properties",
    "to_json_schema",
]
