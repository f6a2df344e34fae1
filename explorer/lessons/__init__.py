"""Classroom lessons (issue 5): each module computes one lesson's experiment and returns data for the page.

No streamlit here; `pages/lessons.py` reads widgets, calls these functions and draws the results.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.i18n import N_


@dataclass(frozen=True)
class Lesson:
    key: str  # the `?lesson=` value in the page URL
    title: str  # English, marked N_: translate where shown, _(lesson.title)
    question: str  # what the class should be able to answer afterwards (N_ as well)
    trains: bool  # whether the experiment needs training runs (queued through the run store)


LESSONS: tuple[Lesson, ...] = (
    Lesson("degradation", N_("1. Degradation"),
           N_("Why is a deeper plain net worse even on its training data?"), True),
    Lesson("gradients", N_("2. Vanishing gradients"),
           N_("How much gradient reaches the first layer at initialization?"), False),
    Lesson("shortcut", N_("3. What the shortcut must be"),
           N_("Which shortcut and activation placement train best?"), True),
    Lesson("budget", N_("4. Wider, deeper, or more paths?"),
           N_("At equal cost, which design is most accurate, and fastest?"), False),
    Lesson("forms", N_("5. ResNeXt's three forms are one block"),
           N_("Are split-transform-merge, early concatenation and grouped convolution the same function?"), False),
    Lesson("shake", N_("6. Shake-Shake in motion"), N_("What do alpha and beta do to a batch?"), True),
    Lesson("lesion", N_("7. Residual nets behave like ensembles"),
           N_("What happens when one block is deleted at test time?"), True),
    Lesson("dense", N_("8. Addition vs concatenation"), N_("How do ResNet and DenseNet reuse features?"), False),
    Lesson("imagenet", N_("9. ImageNet: plain-34 and the shortcut options"),
           N_("Does degradation happen on ImageNet too, and does the shortcut's projection matter?"), True),
    Lesson("wrn", N_("10. Wide ResNet: width against depth"),
           N_("Is a wide shallow net better than a thin deep one?"), False),
    Lesson("cardinality", N_("11. ResNeXt: cardinality at equal complexity"),
           N_("At the same cost, do more paths beat wider paths?"), False),
    Lesson("highway", N_("12. Highway against plain at depth"),
           N_("What do the gates do at the start, and after training?"), False),
    Lesson("stochastic", N_("13. Stochastic depth"), N_("What does training a shorter net on every batch do?"), True),
)
LESSON_KEYS = tuple(lesson.key for lesson in LESSONS)


def lesson(key: str) -> Lesson:
    """The lesson for a URL key; unknown keys fall back to the first lesson that needs no training."""
    return next((item for item in LESSONS if item.key == key), LESSONS[1])
