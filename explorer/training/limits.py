"""What one class may ask of the server: how many runs may wait, what one run may cost, and who may stop a run.

Plain Python (no torch), so the run store checks the queue caps inside the transaction that queues a run. Every
limit is an environment variable with a default sized for a class of 30 on one machine; a refusal is a
`Refused` (a SpecError: every page and the CLI already show those as plain text) that says which limit was hit,
by how much, and what to do instead. The memory guard needs the design's cost (torch): explorer.training.capacity.

Ownership: a run belongs to the browser session that started it. The page keeps a random owner token in the
URL (`?owner=`) and the store keeps only its hash (`owner_id`), so neither the database nor a run.json can be
used to stop someone else's run. Runs without an owner (the CLI's, the lessons' shared class runs, runs stored
before owners existed) and other sessions' runs are stopped only by the teacher, whose token is
EXPLORER_TEACHER_TOKEN.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets

from explorer.i18n import _, ngettext
from explorer.models.convert import SpecError

# Defaults, each overridden by the environment variable of the same name.
MAX_QUEUED_PER_SESSION = 3  # runs one browser session may have waiting or training at once
MAX_QUEUED = 60  # runs all sessions together may have waiting or training (a row each, no process while waiting)
# Images x epochs one run may train, per device kind: 300 epochs of 50k images (DenseNet's paper length) on a GPU;
# on a CPU, 10 epochs of 50k images (about an hour for a ResNet-20 on 2 cores).
MAX_IMAGE_EPOCHS = {"cuda": 15_000_000, "cpu": 500_000}
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")  # what new_token() gives, with room for hand-made ones


class Refused(SpecError):
    """A request over one of the server's limits. `field` names the setting to change ("batch_size", "epochs",
    "queue"); the message gives the numbers and what to do instead."""


def setting(name: str, default: int) -> int:
    """A positive integer from the environment variable `name`, else `default` (also for a bad value)."""
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def max_queued_per_session() -> int:
    return setting("EXPLORER_MAX_QUEUED_PER_SESSION", MAX_QUEUED_PER_SESSION)


def max_queued() -> int:
    return setting("EXPLORER_MAX_QUEUED", MAX_QUEUED)


def device_kind(device: str) -> str:
    """"cuda" for any GPU ("cuda", "cuda:1"), else "cpu"."""
    return "cuda" if device.strip().lower().startswith("cuda") else "cpu"


def max_image_epochs(device: str) -> int:
    kind = device_kind(device)
    return setting(f"EXPLORER_MAX_IMAGE_EPOCHS_{kind.upper()}", MAX_IMAGE_EPOCHS[kind])


def check_queue(total: int, mine: int, owner: str | None) -> None:
    """Refuse a new run when `total` runs are already waiting or training (all sessions), or `mine` of this
    owner's are. Attaching to an identical run is never refused: it adds nothing."""
    if owner is not None and mine >= (cap := max_queued_per_session()):
        raise Refused("queue", _("you already have {mine} runs waiting or training, the most one session may have "
                                 "at once ({cap}); wait for one to finish or stop one, then press Start again").format(
                                     mine=mine, cap=cap))
    if total >= (cap := max_queued()):
        raise Refused("queue", _("the server already has {total} runs waiting or training, the most it holds at "
                                 "once ({cap}); try again when some have finished, or ask your teacher").format(
                                     total=total, cap=cap))


def check_cost(epochs: int, images: int, device: str) -> None:
    """Refuse a run that would train more than this device kind's images x epochs (`max_image_epochs`)."""
    cap = max_image_epochs(device)
    if epochs * images <= cap:
        return
    kind = device_kind(device)
    most = cap // max(images, 1)
    fix = (ngettext("at most {most:,} epoch of {images:,} images, or train on fewer images",
                    "at most {most:,} epochs of {images:,} images, or train on fewer images", most).format(
                        most=most, images=images)
           if most >= 1 else _("train on at most {cap:,} images").format(cap=cap))
    # TRANSLATORS: {device} is GPU or CPU; {variable} an environment variable's name
    raise Refused("epochs", _("{epochs:,} epochs of {images:,} images is {total:,} training images, over the {cap:,} "
                              "one run may train on this server's {device} ({variable}); {fix}").format(
                                  epochs=epochs, images=images, total=epochs * images, cap=cap,
                                  device="GPU" if kind == "cuda" else "CPU",
                                  variable=f"EXPLORER_MAX_IMAGE_EPOCHS_{kind.upper()}", fix=fix))


# -- ownership -------------------------------------------------------------------------------------------------

def new_token() -> str:
    """A fresh owner token for a browser session (URL-safe, 128 bits)."""
    return secrets.token_urlsafe(16)


def valid_token(token: object) -> bool:
    return isinstance(token, str) and TOKEN_PATTERN.fullmatch(token) is not None


def owner_id(token: str) -> str:
    """What the store keeps for a session's token: its hash, so the store cannot be used to act as the owner."""
    return hashlib.sha256(f"explorer-owner:{token}".encode()).hexdigest()[:32]


def teacher_enabled() -> bool:
    return bool(os.environ.get("EXPLORER_TEACHER_TOKEN"))


def is_teacher(token: str | None) -> bool:
    """Whether `token` is the teacher's (EXPLORER_TEACHER_TOKEN; never true when that is unset)."""
    expected = os.environ.get("EXPLORER_TEACHER_TOKEN", "")
    return bool(expected) and isinstance(token, str) and hmac.compare_digest(token.encode(), expected.encode())


def may_stop(run_owner: str | None, viewer: str | None, teacher: bool) -> bool:
    """The owner of a run (by `owner_id`) and the teacher may stop it; nobody else."""
    return teacher or (run_owner is not None and viewer is not None and hmac.compare_digest(run_owner, viewer))


def why_not_stoppable(run_owner: str | None) -> str:
    """The caption shown instead of Stop."""
    whose = (_("another browser session started it") if run_owner is not None
             else _("it belongs to the whole class (started from a lesson, the command line, or before runs had "
                    "owners)"))
    teacher = (_("the teacher can stop it (Teacher, at the bottom of Setup)") if teacher_enabled()
               else _("no teacher token is set on this server (EXPLORER_TEACHER_TOKEN)"))
    return _("Only the session that started a run can stop it: {whose}; {teacher}.").format(whose=whose,
                                                                                             teacher=teacher)
