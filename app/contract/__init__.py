"""The one reader of openapi/: everything else consumes what `load_contract` returns."""

from authsvc.contract.loader import (
    Contract,
    ContractError,
    Operation,
    default_contract_path,
    load_contract,
)

__all__ = ["Contract", "ContractError", "Operation", "default_contract_path", "load_contract"]
