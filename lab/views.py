"""The lab's pages: scenarios, runs with live progress, and their reports."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from csp.constants import NONE, UNSAFE_EVAL, UNSAFE_INLINE
from csp.decorators import csp
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lab import services
from lab.access import may_use_lab
from lab.core.scenario import ScenarioError
from lab.forms import ScenarioForm, SweepForm
from lab.models import Run, Scenario
from lab.pipeline import folder_files

View = Callable[..., HttpResponseBase]


def lab_only(view: View) -> View:
    """Staff and researchers; anyone else signed in is refused, anonymous sent to log in."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_use_lab(request.user):
            raise PermissionDenied("The lab is for co-op staff and researchers.")
        return view(request, *args, **kwargs)

    return guarded


@require_GET
@lab_only
def lab_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "lab/home.html",
        {
            "scenarios": Scenario.objects.all(),
            "runs": Run.objects.select_related("scenario", "sweep")[:30],
        },
    )


@require_http_methods(["GET", "POST"])
@lab_only
def scenario_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    scenario = get_object_or_404(Scenario, pk=pk) if pk else None
    form = ScenarioForm(request.POST or None, instance=scenario)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        saved.created_by = saved.created_by or request.user
        saved.save()
        messages.success(request, f"Scenario “{saved.name}” saved.")
        return redirect("lab-scenario", pk=saved.pk)
    return render(
        request,
        "lab/scenario.html",
        {"form": form, "scenario": scenario, "sweep_form": SweepForm()},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@lab_only
def scenario_run(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = get_object_or_404(Scenario, pk=pk)
    try:
        run = services.run_create(scenario=scenario, user=request.user)
    except ScenarioError as exc:
        messages.error(request, str(exc))
        return redirect("lab-scenario", pk=pk)
    return redirect("lab-run", pk=run.pk)


@require_POST
@lab_only
def scenario_sweep(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = get_object_or_404(Scenario, pk=pk)
    form = SweepForm(request.POST)
    if not form.is_valid():
        for field, problems in form.errors.items():
            messages.error(request, f"Sweep {field}: {' '.join(str(p) for p in problems)}")
        return redirect("lab-scenario", pk=pk)
    try:
        sweep = services.sweep_create(
            scenario=scenario,
            setting=form.cleaned_data["setting"],
            values=form.cleaned_data["values"],
            user=request.user,
        )
    except ScenarioError as exc:
        messages.error(request, str(exc))
        return redirect("lab-scenario", pk=pk)
    messages.success(request, f"Sweep started: {sweep.runs.count()} runs.")
    return redirect("lab")


@require_GET
@lab_only
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(Run, pk=pk)
    files = folder_files(run)
    tables = sorted(
        {name.rsplit(".", 1)[0] for name in files if name.endswith((".csv", ".parquet"))}
    )
    return render(
        request,
        "lab/run.html",
        {
            "run": run,
            "has_report": "report.html" in files,
            "tables": [(t, f"{t}.csv" in files, f"{t}.parquet" in files) for t in tables],
            "has_json": "results.json" in files,
        },
    )


@require_GET
@lab_only
def run_progress(request: HttpRequest, pk: int) -> JsonResponse:  # noqa: ARG001  (a view)
    run = get_object_or_404(Run, pk=pk)
    return JsonResponse(
        {
            "state": run.state,
            "stage": run.stage,
            "done": run.done,
            "total": run.total,
            "percent": run.percent,
            "chunks": run.chunks,
            "chunks_done": run.chunks_done,
            "error": run.error,
        }
    )


# The report is a self-contained page of inline Plotly scripts. It is served sandboxed (a
# unique origin: no cookies, no access to this site's pages) so its scripts may run without
# loosening the policy of any other page.
REPORT_POLICY = {
    "default-src": [NONE],
    "script-src": [UNSAFE_INLINE, UNSAFE_EVAL],
    "style-src": [UNSAFE_INLINE],
    "img-src": ["data:", "blob:"],
    "font-src": ["data:"],
    "sandbox": ["allow-scripts", "allow-downloads"],
    "frame-ancestors": [NONE],
}


# django-csp types its decorator for views of the request alone; this one takes more.
sandboxed = cast(Callable[[View], View], csp(REPORT_POLICY))


@require_GET
@lab_only
@sandboxed
def run_file(request: HttpRequest, pk: int, name: str) -> FileResponse:  # noqa: ARG001
    run = get_object_or_404(Run, pk=pk)
    path = folder_files(run).get(name)
    if path is None:
        raise Http404("No such file in this run's report.")
    inline = path.suffix == ".html"
    return FileResponse(path.open("rb"), as_attachment=not inline, filename=path.name)
