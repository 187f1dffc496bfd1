"""Automations as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from services.api.schemas.common import Strict, omittable
from shared.limits import MAX_ID

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\r\n\x00]+$")]
Trigger = Literal["subscriber_created", "subscriber_active", "segment_entered", "date_property"]


class WaitStep(Strict):
    kind: Literal["wait"]
    minutes: int = Field(0, ge=0, le=527_040)
    hours: int = Field(0, ge=0, le=8_784)
    days: int = Field(0, ge=0, le=366)


class SendStep(Strict):
    kind: Literal["send"]
    email_id: int = Field(ge=1, le=MAX_ID)


class ConditionStep(Strict):
    """Continue only if the subscriber is in the segment then; the others stop here."""

    kind: Literal["condition"]
    segment_id: int = Field(ge=1, le=MAX_ID)


StepIn = Annotated[WaitStep | SendStep | ConditionStep, Field(discriminator="kind")]


class AutomationIn(Strict):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "name": "welcome",
                    "trigger": "subscriber_active",
                    "steps": [
                        {"kind": "send", "email_id": 1},
                        {"kind": "wait", "days": 3},
                        {"kind": "condition", "segment_id": 2},
                        {"kind": "send", "email_id": 2},
                    ],
                }
            ]
        },
    }
    name: Name
    trigger: Trigger = Field(
        description="subscriber_created, subscriber_active (a confirmed or otherwise activated "
        "subscription), segment_entered (with segment_id) or date_property (with "
        "date_property: a property holding an ISO date, e.g. a birthday, entered once a year)."
    )
    segment_id: int | None = Field(None, ge=1, le=MAX_ID)
    date_property: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^\x00]+$")
    steps: list[StepIn] = Field(max_length=50)
    active: bool = True


class AutomationPatch(Strict):
    name: Name = omittable()
    state: Literal["active", "paused"] = omittable()
    steps: list[StepIn] = omittable(max_length=50)


class Step(BaseModel):
    position: int
    kind: str
    wait_seconds: int | None
    email_id: int | None
    segment_id: int | None


class Automation(BaseModel):
    id: int
    name: str
    trigger: str
    segment_id: int | None
    date_property: str | None
    state: str
    steps: list[Step] = []
    created_at: datetime
    updated_at: datetime


class StepStatistics(BaseModel):
    position: int
    kind: str
    waiting: int = Field(description="Subscribers whose next step this is.")
    passed: int = Field(description="Subscribers past this step.")
    stopped: int = Field(description="Stopped here: the condition did not hold.")
    left: int = Field(description="Left here: unsubscribed, bounced or complained.")
    queued: int = Field(description="Sends of this step still to go (queued or being sent).")
    sent: int
    opened: int = Field(description="Sends of this step opened by a human (not machine opens).")
    clicked: int


class AutomationStatistics(BaseModel):
    totals: dict[str, int] = Field(description="Subscribers per state: waiting, done, ...")
    steps: list[StepStatistics]


class Progress(BaseModel):
    subscriber_id: int
    address: str
    occurrence: str
    position: int
    state: str
    due_at: datetime
    entered_at: datetime
    updated_at: datetime
