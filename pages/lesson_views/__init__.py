"""The lesson renderers of pages/lessons.py, one function per lesson (a package, so Streamlit lists no page)."""

from pages.lesson_views.no_training import lesson_budget, lesson_dense, lesson_forms, lesson_gradients
from pages.lesson_views.papers import (lesson_cardinality, lesson_highway, lesson_imagenet, lesson_stochastic,
                                       lesson_wrn)
from pages.lesson_views.training import lesson_degradation, lesson_lesion, lesson_shake, lesson_shortcut

LESSON_PAGES = {
    "degradation": lesson_degradation,
    "gradients": lesson_gradients,
    "shortcut": lesson_shortcut,
    "budget": lesson_budget,
    "forms": lesson_forms,
    "shake": lesson_shake,
    "lesion": lesson_lesion,
    "dense": lesson_dense,
    "imagenet": lesson_imagenet,
    "wrn": lesson_wrn,
    "cardinality": lesson_cardinality,
    "highway": lesson_highway,
    "stochastic": lesson_stochastic,
}
