"""Classroom lessons (issue 5): each module computes one lesson's experiment and returns data for the page.

No streamlit here; `pages/lessons.py` reads widgets, calls these functions and draws the results.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lesson:
    key: str  # the `?lesson=` value in the page URL
    title: str
    question: str  # what the class should be able to answer afterwards
    trains: bool  # whether the experiment needs training runs (queued through the run store)


LESSONS: tuple[Lesson, ...] = (
    Lesson("degradation", "1. Degradation", "Why is a deeper plain net worse even on its training data?", True),
    Lesson("gradients", "2. Vanishing gradients", "How much gradient reaches the first layer at initialization?",
           False),
    Lesson("shortcut", "3. What the shortcut must be", "Which shortcut and activation placement train best?", True),
    Lesson("budget", "4. Wider, deeper, or more paths?", "At equal cost, which design is most accurate, and fastest?",
           False),
    Lesson("forms", "5. ResNeXt's three forms are one block", "Are split-transform-merge, early concatenation and "
           "grouped convolution the same function?", False),
    Lesson("shake", "6. Shake-Shake in motion", "What do alpha and beta do to a batch?", True),
    Lesson("lesion", "7. Residual nets behave like ensembles", "What happens when one block is deleted at test time?",
           True),
    Lesson("dense", "8. Addition vs concatenation", "How do ResNet and DenseNet reuse features?", False),
    Lesson("imagenet", "9. ImageNet: plain-34 and the shortcut options", "Does degradation happen on ImageNet too, "
           "and does the shortcut's projection matter?", True),
    Lesson("wrn", "10. Wide ResNet: width against depth", "Is a wide shallow net better than a thin deep one?",
           False),
    Lesson("cardinality", "11. ResNeXt: cardinality at equal complexity", "At the same cost, do more paths beat "
           "wider paths?", False),
    Lesson("highway", "12. Highway against plain at depth", "What do the gates do at the start, and after "
           "training?", False),
    Lesson("stochastic", "13. Stochastic depth", "What does training a shorter net on every batch do?", True),
)
LESSON_KEYS = tuple(lesson.key for lesson in LESSONS)


def lesson(key: str) -> Lesson:
    """The lesson for a URL key; unknown keys fall back to the first lesson that needs no training."""
    return next((item for item in LESSONS if item.key == key), LESSONS[1])
