"""``--report-to``: the trackers (trl's ``report_to``) that `train`, `train-and-eval` and `distill` log to."""

from __future__ import annotations

#: trl/transformers ``report_to`` integrations offered on the command line -> the package each needs
REPORT_TO_PACKAGES = {"wandb": "wandb", "trackio": "trackio", "tensorboard": "tensorboard"}


def parse_report_to(value: str | None) -> tuple[str, ...] | None:
    """``--report-to`` ("wandb,tensorboard", "none") as a tuple; None when not given. An unknown name or a
    tracker whose package is missing is a ValueError saying what to install."""
    import importlib.util

    if value is None:
        return None
    names = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    if names in ((), ("none",)):
        return ()
    for name in names:
        if name not in REPORT_TO_PACKAGES:
            raise ValueError(f"--report-to: unknown tracker {name!r}; one of {', '.join(REPORT_TO_PACKAGES)} or none")
        if importlib.util.find_spec(REPORT_TO_PACKAGES[name]) is None and not (
                name == "tensorboard" and importlib.util.find_spec("tensorboardX") is not None):
            raise ValueError(f"--report-to {name} needs the {REPORT_TO_PACKAGES[name]} package: "
                             f"pip install {REPORT_TO_PACKAGES[name]}")
    return names
