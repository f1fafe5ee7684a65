"""What a column is, judged by its name: an identifier, or an outcome known only after the fact."""

from __future__ import annotations

import re

_ID_NAME = re.compile(
    r"(^|[_\s])(id|key|uuid|guid)$|^(customer|client|user|member|account|contact|visitor)(_?(id|no|number|key|code))?$"
    r"|(_|^)(customerid|userid|clientid|invoiceno|orderid)$",
    re.IGNORECASE,
)
_OUTCOME_NAME = re.compile(r"churn|convert|purchased|_next_\d+d|target|label|respon|outcome|bought|^y$",
                           re.IGNORECASE)


def looks_like_id(name: str) -> bool:
    """True for column names that identify rows (customer_id, InvoiceNo, user) rather than measure them."""
    return bool(_ID_NAME.search(name.strip()))


def looks_like_outcome(name: str) -> bool:
    """True for names of results a campaign or model predicts (churned, converted, purchased_next_30d, y)."""
    return bool(_OUTCOME_NAME.search(name.strip()))
