"""POST /reports/nis2 and /reports/gdpr: the PDFs (rate limit "reports", 10/hour; license gate 423)."""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import JSONBody

from appliance.api.json_schema import exactly_one_of
from appliance.api.security import analyst
from appliance.audit.requests import record_request
from appliance.compliance import incidents
from appliance.compliance.controller import regime_for
from appliance.compliance.regimes import GdprStage, Nis2Stage, Stage
from appliance.licensing.box_license import report_gate
from appliance.reports import content, pdf
from appliance.reports.evidence import ReportSubject, SubjectNotFound, report_subject
from appliance.store.database import Store

PDF = "application/pdf"


class ReportRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alert_id: str | None = None
    incident_id: str | None = None


class Nis2ReportRequest(ReportRequest, kw_only=True):
    """Give `alert_id` (its incident is used when it has one) or `incident_id`. `stage` is the NIS2 stage:
    early_warning (default), notification, intermediate, final, progress."""

    stage: Nis2Stage = "early_warning"


class GdprReportRequest(ReportRequest, kw_only=True):
    """Give `alert_id` (its incident is used when it has one) or `incident_id`. `stage` is the GDPR Art.33
    stage: notification (the only one; a phased notification is that notification, updated)."""

    stage: GdprStage = "notification"


def one_subject(request_type: type) -> type:
    return Annotated[request_type, msgspec.Meta(extra_json_schema=exactly_one_of("alert_id", "incident_id"))]


Nis2Body = one_subject(Nis2ReportRequest)
GdprBody = one_subject(GdprReportRequest)


def regime_stage(store: Store, regime_name: str, stage_id: str) -> Stage:
    """The stage as the box's regime file has it; a 400 naming the known ones when a local file dropped it."""
    regime = regime_for(store, regime_name)
    stage = regime.stage(stage_id)
    if stage is None:
        stages = ", ".join(known.id for known in regime.stages)
        raise ValidationException(f"stage: {stage_id!r} is not a {regime_name.upper()} stage; one of {stages}")
    return stage


def subject_of(store: Store, request: ReportRequest, regime_name: str) -> ReportSubject:
    if (request.alert_id is None) == (request.incident_id is None):
        raise ValidationException("alert_id: give exactly one of alert_id or incident_id")
    try:
        return report_subject(
            store, regime_for, regime_name=regime_name, alert_id=request.alert_id, incident_id=request.incident_id
        )
    except SubjectNotFound as error:
        raise NotFoundException(str(error)) from error


def pdf_response(store: Store, request: Request, report: content.Report, subject: ReportSubject) -> Response[bytes]:
    document = pdf.render(report, content.attachment(subject, report))
    if subject.incident is not None:  # listed with the incident it was made from
        incidents.record_report(store, subject.incident.id, incidents.IncidentReport(
            kind=report.kind, title=report.title, sha256=hashlib.sha256(document).hexdigest(),
            generated_by=request.user.name, generated_at=subject.generated_at))
    record_request(
        store,
        request,
        action="report.generated",
        target=report.reference,
        details={"kind": report.kind, "title": report.title, "alerts": subject.alerts_total},
    )
    return Response(
        document,
        media_type=PDF,
        headers={"Content-Disposition": f'attachment; filename="{report.kind}-{report.reference}.pdf"'},
    )


class ReportsController(Controller):
    path = "/reports"
    tags = ["reports"]

    @post(
        "/nis2",
        guards=[analyst],
        status_code=200,
        sync_to_thread=True,
        media_type=PDF,
        raises=[NotFoundException],
        summary="NIS2 Art.23 report (early warning, notification, intermediate, final, progress) as PDF",
    )
    def nis2(self, data: JSONBody[Nis2Body], request: Request, store: NamedDependency[Store]) -> Response[bytes]:
        stage = regime_stage(store, "nis2", data.stage)
        report_gate(store)
        subject = subject_of(store, data, "nis2")
        return pdf_response(store, request, content.nis2_report(subject, stage), subject)

    @post(
        "/gdpr",
        guards=[analyst],
        status_code=200,
        sync_to_thread=True,
        media_type=PDF,
        raises=[NotFoundException],
        summary="GDPR Art.33 personal-data breach notification as PDF",
    )
    def gdpr(self, data: JSONBody[GdprBody], request: Request, store: NamedDependency[Store]) -> Response[bytes]:
        stage = regime_stage(store, "gdpr", data.stage)
        report_gate(store)
        subject = subject_of(store, data, "gdpr")
        return pdf_response(store, request, content.gdpr_report(subject, stage), subject)
