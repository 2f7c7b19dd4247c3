"""What the conversation needs of the parts around it, as types: the recommender a chat session
drives (:class:`ChatRecommender`) and the callables the reasons draw on (:data:`Vectors`,
:data:`CoLikes`).

:class:`~recchat.recommender.Recommender` satisfies them; the conversation never imports it (it
sits a layer above).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    import numpy as np

    from recchat.blend import BlendConfig
    from recchat.conversation.domain import Domain
    from recchat.conversation.profile import Profile
    from recchat.data.catalog import Catalog
    from recchat.privacy import TitleExemptions
    from recchat.rerank import ItemReranker
    from recchat.types import Candidate, Ranking

# Unit text vectors of item ids (the index's), one row per id.
Vectors: TypeAlias = "Callable[[Sequence[str]], np.ndarray]"
# (users who liked both, users who liked the first) for an anchor item and a pick.
CoLikes: TypeAlias = "Callable[[str, str], tuple[int, int]]"


class ChatRecommender(Protocol):
    """What a :class:`~recchat.conversation.chat.ChatSession` calls on its recommender.

    Optional, read with ``getattr`` where present: ``linker`` (a shared
    :class:`~recchat.conversation.link.Linker`; else the session builds one) and ``co_likes``
    (a :data:`CoLikes`, for the reasons).
    """

    @property
    def catalog(self) -> Catalog: ...

    @property
    def domain(self) -> Domain: ...

    @property
    def reranker(self) -> ItemReranker: ...

    @property
    def pool(self) -> int: ...

    @property
    def pii_exemptions(self) -> TitleExemptions: ...

    def history_of(self, user: str) -> tuple[list[str], list[float | None]]: ...

    def profile(self, user: str) -> Profile | None: ...

    def recommend(
        self,
        user: Sequence[str],
        k: int = 10,
        filters: dict[str, object] | None = None,
        *,
        query: str | None = None,
        exclude: Sequence[str] = (),
        profile: Profile | None = None,
        reranker: ItemReranker | None = None,
        blend: BlendConfig | None = None,
    ) -> Ranking: ...

    def candidates(
        self, history: Sequence[str], *, query: str | None = None, exclude: Sequence[str] = ()
    ) -> list[Candidate]: ...

    def rerank(
        self,
        history: Sequence[str],
        candidates: Sequence[Candidate],
        *,
        reranker: ItemReranker | None = None,
        blend: BlendConfig | None = None,
    ) -> Ranking: ...

    def text_vector(self, item_ids: Sequence[str]) -> np.ndarray: ...
