"""Evaluation of the whole product, with its shipped defaults, on labelled synthetic streams (pulse/dev/scenarios.py).

The events of tenants of several sizes are fed in time order to the job's per-tenant step without Flink
(`pulse.job.pipeline.PlainRun`) with the shipped default config (configs/default.yaml), and every alert it
raises is kept: condition and absence rules, the risk model, the metric detectors. An alert detects an incident
of its tenant when it falls between the incident's start (less a minute) and 30 minutes after its end; every
other alert is false. Alerts are counted as episodes: a tenant's alerts less than 30 minutes apart are one.

With labels (`evaluate_labelled`), a `Labeller` plays the tenant's user: the incidents of each tenant's first false
episodes are labelled false alarms half an hour (of event time) after they opened, and the label goes to the run as the
API sends it to the job (pulse.job.feedback); the same stream is judged with and without.

>>> episodes([10 * MINUTE, 30 * MINUTE, 99 * MINUTE])  # 10 and 30 are one episode
2
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from models import nab_score, river_baselines
from models.backtest import backtest
from models.business_metrics import TenantMetrics
from models.detectors import MINUTE
from models.series import SeriesError, parse_timestamp, read_series
from pulse.dev.generate import Incident
from pulse.dev.scenarios import KINDS, SIZES, LabelledStream
from pulse.events import parse_record
from pulse.job.feedback import Lesson, lesson_record, read_record
from pulse.job.pipeline import PlainRun
from pulse.tenants.config import METRIC_NAMES, ConfigSet, MetricsConfig, load_config_dir
from pulse.tenants.plans import PlanWatcher, plans_file_for

GRACE = 30 * MINUTE
EPISODE_GAP = 30 * MINUTE
TARGET_DELAY = 15 * MINUTE
LATENESS = MINUTE
DAY = 24 * 60 * MINUTE
PROJECT_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_SIZE_DAYS = {"l": 2.0}
LABEL_DELAY = 30 * MINUTE  # a false alarm is labelled half an hour after its incident opened
SHIPPED = "shipped"  # the series-folder score of the shipped metric detectors (else a River baseline)
UNLIMITED_PLAN = "enterprise"  # the eval tenants' plan: a quota must not stop scoring part-way through the stream


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: its tenant, when it was judged (epoch ms), and who raised it (rule id, `risk`, `metric:<name>`)."""

    tenant: str
    at: int
    source: str


@dataclass(frozen=True, slots=True)
class Detection:
    """One incident and the first alert that detected it (None: missed)."""

    incident: Incident
    size: str
    first: Alert | None

    @property
    def delay_min(self) -> float | None:
        return None if self.first is None else max(0.0, (self.first.at - self.incident.start) / MINUTE)


@dataclass
class Report:
    """Every incident's detection, the false alerts, and how many tenant-days of each size were watched."""

    detections: list[Detection]
    false_alerts: list[Alert]
    true_alerts: list[Alert]
    tenant_days: dict[str, float]  # per size
    size_of: dict[str, str]  # tenant -> size

    def extend(self, other: Report) -> None:
        self.detections += other.detections
        self.false_alerts += other.false_alerts
        self.true_alerts += other.true_alerts
        self.size_of |= other.size_of
        for size, days in other.tenant_days.items():
            self.tenant_days[size] = self.tenant_days.get(size, 0.0) + days


def episodes(times: Iterable[int], gap: int = EPISODE_GAP) -> int:
    """How many episodes alerts at `times` make: an alert less than `gap` after the one before joins its episode."""
    count, last = 0, None
    for at in sorted(times):
        if last is None or at - last >= gap:
            count += 1
        last = at
    return count


def alert_of(row: dict[str, Any]) -> Alert | None:
    """The Alert of an `alerts` row; None for quota notices. A metric minute is judged at its end."""
    if row["kind"] == "usage":
        return None
    at = int(row["ts"].timestamp() * 1000)
    cause = row["cause"]
    if cause.startswith("metric:"):
        return Alert(row["tenant_id"], at + MINUTE, cause)
    return Alert(row["tenant_id"], at, "risk" if cause == "risk_score" else cause)


def shipped_configs() -> ConfigSet:
    """What a new tenant gets: the shipped default config, with none of the example tenants' own files."""
    return ConfigSet(load_config_dir(PROJECT_CONFIGS).default, {})


def unlimited_plans(tenants: Iterable[str], folder: Path) -> PlanWatcher:
    """The shipped plans, with `tenants` on the unlimited plan (a plans file written under `folder`)."""
    data = yaml.safe_load(plans_file_for(PROJECT_CONFIGS).read_text())
    data["tenants"] = {tenant: UNLIMITED_PLAN for tenant in tenants}
    path = folder / "plans.yaml"
    path.write_text(yaml.safe_dump(data))
    return PlanWatcher(path)


class Labeller:
    """A user of each tenant who labels the incidents of its first `first` false episodes as false alarms, each
    `LABEL_DELAY` after it opened (an incident: a tenant's alerts of one cause and group, under 30 minutes apart)."""

    def __init__(self, first: int, incidents: list[Incident]):
        self.first = first
        self.inside = _inside(incidents)
        self.episodes: Counter[str] = Counter()  # false episodes seen, per tenant
        self.last_false: dict[str, int] = {}  # the tenant's latest false alert
        self.last: dict[tuple[str, str, str], int] = {}  # (tenant, cause, group) → its latest false alert
        self.pending: list[tuple[int, str, Lesson]] = []  # (when labelled, tenant, lesson), in time order
        self.labels: Counter[str] = Counter()  # labels given, per tenant

    def see(self, row: dict[str, Any]) -> None:
        """Note one `alerts` row the run wrote: if it opens a false incident of a first episode, label it later."""
        alert = alert_of(row)
        if alert is None or self.inside(alert):
            return
        tenant, key = alert.tenant, (alert.tenant, row["cause"], row["group_key"])
        if alert.at - self.last_false.get(tenant, -EPISODE_GAP) >= EPISODE_GAP:
            self.episodes[tenant] += 1
        opens = alert.at - self.last.get(key, -EPISODE_GAP) >= EPISODE_GAP
        self.last_false[tenant] = self.last[key] = alert.at
        if opens and self.episodes[tenant] <= self.first:
            incident = f"eval-{tenant}-{len(self.pending)}"
            lesson = read_record(lesson_record(incident, "false_alarm", row))  # as the API sends it, the job reads it
            self.pending.append((alert.at + LABEL_DELAY, tenant, lesson))
            self.labels[tenant] += 1

    def due(self, now: int) -> list[tuple[str, Lesson]]:
        """The labels given by event time `now`, each once."""
        given = [(tenant, lesson) for at, tenant, lesson in self.pending if at <= now]
        self.pending = [item for item in self.pending if item[0] > now]
        return given


def product_alerts(
    events: list[dict[str, Any]], configs: ConfigSet | None = None, labeller: Labeller | None = None
) -> list[Alert]:
    """Every alert the job's per-tenant step raises over `events` (sorted by time), shipped defaults unless given;
    no rule is suspended for time. `labeller`: a user labelling false alarms as they come."""
    with tempfile.TemporaryDirectory() as folder:
        plans = unlimited_plans({e["tenant_id"] for e in events}, Path(folder))
        run = PlainRun(configs or shipped_configs(), plans, "evaluate")
        rows = []
        for index, raw in enumerate(events):
            event = parse_record(raw, source="evaluate", index=index).event
            if event is None:
                raise ValueError(f"generated event {index} is invalid: {raw}")
            if labeller is not None:
                for tenant, lesson in labeller.due(event["ts"]):
                    run.learn(tenant, lesson)
            written = run.record("event", event)
            if labeller is not None:
                for table, row in written:
                    if table == "alerts":
                        labeller.see(row)
            rows += written
        rows += run.finish()
    return [alert for table, row in rows if table == "alerts" and (alert := alert_of(row)) is not None]


def _inside(incidents: list[Incident]) -> Any:
    """Whether an alert falls in an incident window of its tenant (from 1 minute before its start to `GRACE` after
    its end)."""
    windows = defaultdict(list)
    for incident in incidents:
        windows[incident.tenant_id].append((incident.start - MINUTE, incident.end + GRACE))

    def inside(alert: Alert) -> bool:
        return any(start <= alert.at <= end for start, end in windows[alert.tenant])

    return inside


def score(alerts: list[Alert], incidents: list[Incident], size_of: dict[str, str], days_of: dict[str, float]) -> Report:
    """Match the alerts to the incidents of their tenant."""
    inside = _inside(incidents)
    detections = []
    for incident in incidents:
        hits = [
            a
            for a in alerts
            if a.tenant == incident.tenant_id and incident.start - MINUTE <= a.at <= incident.end + GRACE
        ]
        first = min(hits, key=lambda a: a.at) if hits else None
        detections.append(Detection(incident, size_of[incident.tenant_id], first))
    tenant_days: Counter[str] = Counter()
    for tenant, size in size_of.items():
        tenant_days[size] += days_of[tenant]
    return Report(
        detections,
        [a for a in alerts if not inside(a)],
        [a for a in alerts if inside(a)],
        dict(tenant_days),
        dict(size_of),
    )


def evaluate(
    seed: int,
    days: float = 4,
    sizes: tuple[str, ...] = tuple(SIZES),
    kinds: tuple[str, ...] = KINDS,
    size_days: dict[str, float] | None = None,
) -> Report:
    """Generate one labelled stream and judge the product's alerts over it; `size_days`: fewer days for a size
    (by default the l tenant, a fifth of a million events a day, runs for 2 days)."""
    stream = LabelledStream(
        seed=seed, days=days, sizes=sizes, kinds=kinds, size_days=DEFAULT_SIZE_DAYS if size_days is None else size_days
    )
    events, incidents = stream.run()
    days_of = {tenant: stream.days_of(tenant) for tenant in stream.size_of}
    return score(while_streaming(product_alerts(events), stream), incidents, stream.size_of, days_of)


def while_streaming(alerts: list[Alert], stream: LabelledStream) -> list[Alert]:
    """The alerts raised while their tenant's events last: a tenant whose stream ends before the others' (size l)
    would be judged silent, as a real outage would be, for the rest of the run."""
    return [a for a in alerts if a.at <= stream.end_of(a.tenant)]


@dataclass
class Labelled:
    """The same streams judged without and with a user labelling each tenant's first false alarms."""

    without: Report
    with_labels: Report
    labels: Counter[str]  # labels given, per tenant


def evaluate_labelled(
    seeds: list[int], days: float, sizes: tuple[str, ...], kinds: tuple[str, ...], l_days: float, first: int
) -> Labelled:
    """Per seed, one stream run twice: as is, and with the incidents of each tenant's first `first` false episodes
    labelled false alarms (`Labeller`)."""
    result = Labelled(Report([], [], [], {}, {}), Report([], [], [], {}, {}), Counter())
    for seed in seeds:
        stream = LabelledStream(seed=seed, days=days, sizes=sizes, kinds=kinds, size_days={"l": l_days})
        events, incidents = stream.run()
        days_of = {tenant: stream.days_of(tenant) for tenant in stream.size_of}
        labeller = Labeller(first, incidents)
        without, with_labels = product_alerts(events), product_alerts(events, labeller=labeller)
        result.without.extend(score(while_streaming(without, stream), incidents, stream.size_of, days_of))
        result.with_labels.extend(score(while_streaming(with_labels, stream), incidents, stream.size_of, days_of))
        result.labels += labeller.labels
    return result


def labelled_table(result: Labelled, first: int) -> str:
    """Per tenant size and in all: labels given, false episodes per tenant-day, the false episodes after each tenant's
    first `first` (those the labels can change), and recall, without and with labels."""
    lines = [
        "| size | tenant-days | incidents | labels given | false episodes/tenant-day without | with labels "
        f"| false episodes after the first {first} without | with labels | recall without | with labels |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    without, taught = result.without, result.with_labels
    for size in [s for s in SIZES if s in without.tenant_days] + ["all"]:
        sizes = list(without.tenant_days) if size == "all" else [size]
        tenants = [t for t, s in without.size_of.items() if s in sizes]
        days = sum(without.tenant_days[s] for s in sizes)
        labels = sum(result.labels[t] for t in tenants)
        cells = []
        for report in (without, taught):
            per_tenant = [episodes(a.at for a in report.false_alerts if a.tenant == t) for t in tenants]
            rows = [d for d in report.detections if d.size in sizes]
            recall = _ratio(sum(1 for d in rows if d.first is not None), len(rows))
            cells.append((f"{sum(per_tenant) / days:.2f}", str(sum(max(0, n - first) for n in per_tenant)), recall))
        incidents = sum(1 for d in without.detections if d.size in sizes)
        paired = [cell for pair in zip(*cells, strict=True) for cell in pair]
        row = [size, f"{days:g}", str(incidents), str(labels), *paired]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def metric_alerts(events: list[dict[str, Any]], config: MetricsConfig) -> list[tuple[int, str]]:
    """(minute, metric) of every alert the metric detectors alone raise over `events` (sorted by time)."""
    tenants: dict[str, TenantMetrics] = {}
    alerts: list[tuple[int, str]] = []
    for event in events:
        metrics = tenants.setdefault(event["tenant_id"], TenantMetrics(config))
        metrics.add(event)
        alerts += [(p.verdict.ts, p.metric) for p in metrics.close(event["ts"] - LATENESS) if p.verdict.opens_incident]
    for metrics in tenants.values():
        end = max(metrics.open, default=metrics.closed_until) + MINUTE
        alerts += [(p.verdict.ts, p.metric) for p in metrics.close(end) if p.verdict.opens_incident]
    return alerts


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.2f}" if whole else "-"


def _delays(detections: list[Detection]) -> tuple[str, str]:
    """The median and max delay in minutes, and the share of incidents detected within the target."""
    delays = sorted(d.delay_min for d in detections if d.delay_min is not None)
    median = f"{statistics.median(delays):.0f}, {delays[-1]:.0f}" if delays else "-"
    on_time = sum(1 for d in delays if d <= TARGET_DELAY / MINUTE)
    return median, _ratio(on_time, len(detections))


def kind_table(report: Report) -> str:
    """Per incident kind: recall, delay, and who detected it first."""
    lines = [
        "| kind | incidents | detected | recall | delay min (median, max) | within 15 min | first detected by |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind in KINDS:
        rows = [d for d in report.detections if d.incident.kind == kind]
        if not rows:
            continue
        found = [d for d in rows if d.first is not None]
        median, on_time = _delays(rows)
        by = ", ".join(f"{s} {n}" for s, n in Counter(d.first.source for d in found).most_common(3))  # type: ignore[union-attr]
        lines.append(
            f"| {kind} | {len(rows)} | {len(found)} | {_ratio(len(found), len(rows))} | {median} | {on_time} | {by} |"
        )
    return "\n".join(lines)


def _tenant_episodes(alerts: list[Alert], size_of: dict[str, str], size: str) -> int:
    tenants = [t for t, s in size_of.items() if s == size]
    return sum(episodes(a.at for a in alerts if a.tenant == t) for t in tenants)


def size_table(report: Report) -> str:
    """Per tenant size: recall, delay, precision over episodes, false episodes and risk alerts (all, and those
    outside every incident) per tenant-day."""
    lines = [
        "| size | events/min | tenant-days | incidents | recall | delay min (median, max) | within 15 min "
        "| precision | false episodes/tenant-day | risk alerts/tenant-day | false risk alerts/tenant-day |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size in SIZES:
        if size not in report.tenant_days:
            continue
        days = report.tenant_days[size]
        rows = [d for d in report.detections if d.size == size]
        found = sum(1 for d in rows if d.first is not None)
        true = _tenant_episodes(report.true_alerts, report.size_of, size)
        false = _tenant_episodes(report.false_alerts, report.size_of, size)
        false_risk = sum(1 for a in report.false_alerts if a.source == "risk" and _size(report, a) == size)
        risk = false_risk + sum(1 for a in report.true_alerts if a.source == "risk" and _size(report, a) == size)
        median, on_time = _delays(rows)
        lines.append(
            f"| {size} | {SIZES[size]} | {days:g} | {len(rows)} | {_ratio(found, len(rows))} | {median} | {on_time} "
            f"| {_ratio(true, true + false)} | {false / days:.2f} | {risk / days:.2f} | {false_risk / days:.2f} |"
        )
    return "\n".join(lines)


def _size(report: Report, alert: Alert) -> str:
    return report.size_of[alert.tenant]


def source_table(report: Report) -> str:
    """Per source of false alerts: its false episodes per tenant-day, for each size."""
    sizes = [s for s in SIZES if s in report.tenant_days]
    lines = [
        "| false alerts from | " + " | ".join(f"{s} episodes/tenant-day" for s in sizes) + " |",
        "| --- | " + " | ".join("---" for _ in sizes) + " |",
    ]
    counts = Counter(a.source for a in report.false_alerts)
    for source, _ in counts.most_common():
        mine = [a for a in report.false_alerts if a.source == source]
        cells = [f"{_tenant_episodes(mine, report.size_of, s) / report.tenant_days[s]:.2f}" for s in sizes]
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tables(report: Report) -> str:
    """The three tables `pulse models evaluate` prints."""
    return "\n\n".join([kind_table(report), size_table(report), source_table(report)])


@dataclass(frozen=True)
class SeriesScore:
    """One labelled series judged by a detector: its windows, those detected, alerts outside them, NAB raw score."""

    file: str
    metric: str
    windows: int
    detected: int
    false_alerts: int
    raw: float


def read_labels(folder: Path) -> dict[str, tuple[str | None, list[tuple[int, int]]]]:
    """`labels.json` of a series folder: file name -> (metric or None, windows in epoch ms)."""
    path = folder / "labels.json"
    if not path.is_file():
        raise SeriesError(f"{path}: no labels file; write one mapping each CSV to its [start, end] anomaly windows")
    labels = {}
    for name, entry in json.loads(path.read_text()).items():
        metric, windows = (entry.get("metric"), entry.get("windows")) if isinstance(entry, dict) else (None, entry)
        if not isinstance(windows, list) or not all(isinstance(w, list) and len(w) == 2 for w in windows):
            raise SeriesError(f"{path}: {name!r} must map to a list of [start, end] windows")
        if metric is not None and metric not in METRIC_NAMES:
            raise SeriesError(f"{path}: {name!r} names metric {metric!r}; use one of {', '.join(METRIC_NAMES)}")
        labels[name] = (
            metric,
            [(parse_timestamp(a, f"{path}: {name}"), parse_timestamp(b, f"{path}: {name}")) for a, b in windows],
        )
    return labels


def score_series_folder(
    folder: Path, config: MetricsConfig, metric: str | None = None, detector: str = SHIPPED
) -> list[SeriesScore]:
    """Backtest every labelled CSV of `folder` with the detector of its metric (`metric` if given, else the one
    `labels.json` names, else `orders`), or with River's `detector` (models/river_baselines.py). A detection is
    a row that opens an incident: the job raises one alert for a run of anomalous minutes."""
    scores = []
    for name, (own, windows) in sorted(read_labels(folder).items()):
        path = folder / name
        if not path.is_file():
            raise SeriesError(f"{folder / 'labels.json'}: {name!r} is labelled but {path} does not exist")
        points = read_series(path).points
        judged = metric or own or "orders"
        if detector == SHIPPED:
            alerts = [r.is_alert for r in backtest(points, judged, config)]
        else:
            alerts = river_baselines.alerts([p.value for p in points], detector)
        times = [p.ts for p in points]
        fired = [t for t, alert in zip(times, alerts, strict=True) if alert]
        raw = nab_score.file_score(times, alerts, windows)
        detected = sum(1 for start, end in windows if any(start <= t <= end for t in fired))
        outside = sum(1 for t in fired if not any(start <= t <= end for start, end in windows))
        scores.append(SeriesScore(name, judged, len(windows), detected, outside, raw))
    return scores


def series_table(scores: list[SeriesScore]) -> str:
    """Per family of series (the file name up to its last part, e.g. `count_1m_daily`): windows detected, false
    alerts, NAB score; and the NAB score over the whole folder."""
    families: dict[str, list[SeriesScore]] = defaultdict(list)
    for s in scores:
        families[s.file.rsplit("_", 1)[0]].append(s)
    lines = [
        "| series | files | windows detected | false alerts | NAB score |",
        "| --- | --- | --- | --- | --- |",
    ]
    for family, group in [*sorted(families.items()), ("all", scores)]:
        windows = sum(s.windows for s in group)
        nab = f"{nab_score.normalised([s.raw for s in group], windows):.1f}" if windows else "-"
        detected = f"{sum(s.detected for s in group)}/{windows}"
        lines.append(f"| {family} | {len(group)} | {detected} | {sum(s.false_alerts for s in group)} | {nab} |")
    return "\n".join(lines)


def evaluate_seeds(
    seeds: list[int], days: float, sizes: tuple[str, ...], kinds: tuple[str, ...], l_days: float
) -> Report:
    """One report over a stream per seed."""
    report = Report([], [], [], {}, {})
    for seed in seeds:
        report.extend(evaluate(seed, days, sizes, kinds, {"l": l_days}))
    return report


def heading(seeds: list[int], days: float, sizes: tuple[str, ...], l_days: float) -> str:
    """What the tables are about."""
    l_note = f" ({min(days, l_days):g} for size l)" if "l" in sizes else ""
    return (
        f"The product with its shipped defaults (configs/default.yaml) on labelled streams; seeds "
        f"{', '.join(map(str, seeds))}; {days:g} days{l_note}, the first one history only. An alert from 1 minute "
        "before an incident's start to 30 minutes after its end detects it; alerts under 30 minutes apart are one "
        "episode."
    )
