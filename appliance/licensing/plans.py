"""Plans and the features each one unlocks.

Features are strings carried inside the signed license, so a vendor can grant a feature to one
customer without a new plan. The table below is what the vendor grants by default when a plan is
minted or a subscription changes plan.
"""

from typing import Literal, get_args

Plan = Literal["starter", "professional", "enterprise"]
PLANS: tuple[str, ...] = get_args(Plan)

OT_DETECTIONS = "ot_detections"
REPORTS = "reports"
SIEM_EXPORT = "siem_export"

PLAN_FEATURES: dict[str, tuple[str, ...]] = {
    "starter": (REPORTS,),
    "professional": (REPORTS, SIEM_EXPORT),
    "enterprise": (REPORTS, SIEM_EXPORT, OT_DETECTIONS),
}

PLAN_DEFAULT_SENSORS: dict[str, int] = {"starter": 1, "professional": 5, "enterprise": 25}
