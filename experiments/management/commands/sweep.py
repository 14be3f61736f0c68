import json

from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from datasets.selectors import dataset_version_resolve
from hpml_portal.errors import ServiceError
from hpml_portal.management.waiting import add_wait_arguments, wait_for_status

from ...models import TrainingRun
from ...selectors import sweep_best_run, sweep_list, sweep_ranked_runs
from ...sweeps import sweep_create, sweep_register_best
from ...training.sweep_space import DEFAULT_METRIC, METRICS
from .train import add_run_arguments, progress_line


class Command(BaseCommand):
    help = (
        "Queue a hyperparameter sweep on a dataset version: one training run for each point "
        "of --space (lists are crossed into a grid; a single value is kept for every run), or "
        "--random N distinct points of it. The runs register no model: --register-best (with "
        "--wait), the API or the admin registers the best one into --model-name. Without "
        "--wait the sweep's id is the last line."
    )

    def add_arguments(self, parser):
        add_run_arguments(parser, model_help="registered model the best run goes into")
        parser.add_argument(
            "--space",
            required=True,
            help='JSON, e.g. \'{"learning_rate": [0.001, 0.01], "hidden_units": [64, 128]}\'',
        )
        parser.add_argument(
            "--random", type=int, default=None, metavar="N", help="run N points drawn from the grid"
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            help="with --random: seed of the draw (default: drawn, and printed)",
        )
        parser.add_argument(
            "--metric",
            default=DEFAULT_METRIC,
            choices=list(METRICS),
            help=f"what ranks the runs (default {DEFAULT_METRIC})",
        )
        parser.add_argument(
            "--register-best",
            action="store_true",
            help="with --wait: register the best run's model once the sweep has ended",
        )
        add_actor_arguments(parser)
        add_wait_arguments(parser)

    @one_line_errors
    def handle(
        self,
        *args,
        dataset,
        experiment,
        model_name,
        architecture,
        space,
        random,
        seed,
        metric,
        register_best,
        user,
        team,
        wait,
        timeout,
        **options,
    ):
        if register_best and not wait:
            raise CommandError("--register-best needs --wait: the best run is known at the end")
        try:
            space = json.loads(space)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--space is not valid JSON: {exc}") from exc
        actor = actor_from(user)
        try:
            version = dataset_version_resolve(dataset, user=actor, team=team)
            sweep = sweep_create(
                experiment_name=experiment,
                dataset_version=version,
                model_name=model_name,
                architecture=architecture,
                space=space,
                random=random,
                seed=seed,
                metric=metric,
                user=actor,
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        sweep = sweep_list(user=None).get(pk=sweep.pk)
        how = "the whole grid" if random is None else f"{random} random points, seed {sweep.seed}"
        self.stdout.write(
            f"queued sweep {sweep.pk}: {sweep.runs_total} {architecture} runs ({how}) on "
            f"{version.ref} in experiment {experiment}, ranked by {metric}"
        )
        if sweep.status == TrainingRun.Status.FAILED:
            raise CommandError(f"sweep {sweep.pk}: {sweep.runs.all()[0].error}")
        if not wait:
            self.stdout.write(str(sweep.pk))
            return
        self._reported: set[int] = set()
        try:
            wait_for_status(
                lambda: self._poll(sweep.pk),
                terminal=TrainingRun.TERMINAL,
                success=TrainingRun.Status.SUCCEEDED,
                stdout=self.stdout,
                timeout=timeout,
            )
        finally:
            self._clear_line()
        if register_best:
            try:
                version, created = sweep_register_best(sweep=sweep, user=actor)
            except ServiceError as exc:
                raise CommandError(str(exc)) from exc
            said = "registered" if created else "already registered as"
            self.stdout.write(f"{said} {version.model.name} version {version.version}")

    def _poll(self, sweep_id: int) -> tuple[str, str]:
        sweep = sweep_list(user=None).get(pk=sweep_id)
        runs = list(sweep.runs.all())
        live = self.stdout.isatty()
        for run in runs:  # one line for each run as it ends
            if run.is_terminal and run.pk not in self._reported:
                self._reported.add(run.pk)
                self._clear_line()
                value = run.metrics.get(sweep.metric)
                shown = f" {sweep.metric}={value:.4f}" if isinstance(value, float) else ""
                error = f": {run.error}" if run.error else ""
                self.stdout.write(f"run {run.pk} {run.status}{shown}{error}")
        if live and sweep.status not in TrainingRun.TERMINAL:
            self.stdout.write(f"\r\033[K{_progress_line(sweep, runs)}", ending="")
            self.stdout.flush()
            self._drawn = True
        if sweep.status in TrainingRun.TERMINAL:
            self._clear_line()
            self._summary(sweep, runs)
        error = "" if sweep.status == TrainingRun.Status.SUCCEEDED else "no run succeeded"
        if sweep.status == TrainingRun.Status.CANCELLED:
            error = "the sweep was cancelled"
        return sweep.status, error

    def _clear_line(self) -> None:
        if getattr(self, "_drawn", False):
            self.stdout.write("\r\033[K", ending="")
            self._drawn = False

    def _summary(self, sweep, runs) -> None:
        swept = sorted(sweep.space)
        self.stdout.write(f"runs best first by {sweep.metric}:")
        for run in sweep_ranked_runs(sweep=sweep, runs=runs):
            value = run.metrics.get(sweep.metric)
            shown = f"{value:.4f}" if isinstance(value, float) else "-"
            point = " ".join(f"{name}={run.hyperparameters.get(name)}" for name in swept)
            self.stdout.write(f"  run {run.pk:<6} {run.status:<10} {shown:<8} {point}")
        best = sweep_best_run(sweep=sweep, runs=runs)
        if best is not None:
            self.stdout.write(
                f"best run {best.pk}: {sweep.metric}={best.metrics[sweep.metric]:.4f}"
            )


def _progress_line(sweep, runs: list[TrainingRun]) -> str:
    running = [run for run in runs if run.status == TrainingRun.Status.RUNNING]
    parts = [f"sweep {sweep.pk}: {sweep.runs_done}/{sweep.runs_total} runs done"]
    if running:  # where the first of them is within its training
        parts.append(f"{len(running)} running (run {running[0].pk}: {progress_line(running[0])})")
    best = sweep_best_run(sweep=sweep, runs=runs)
    if best is not None:
        parts.append(f"best {sweep.metric} {best.metrics[sweep.metric]:.4f} (run {best.pk})")
    return ", ".join(parts)
