"""What memchat keeps beside the store that is derived from conversations.

Today that is the embedded model's saved prompt state of each session
(``models/prompt_state.py``: the conversation's tokens and the model's cache of them, in
``$MEMCHAT_HOME/prompt-states``). Whoever deletes or clears a session, deletes a user or
prunes old turns calls :func:`forget_beside_store` too, so no copy of what was deleted
stays on disk.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def forget_beside_store(home: Path, user: str | None, session_id: str | None = None) -> None:
    """Delete what was kept beside the store for ``user``'s session, all their sessions, or
    (``user`` None) everybody's: it is only a cache."""
    # Imported here: the models package imports the Agents SDK, which commands that delete
    # nothing should not pay for at start-up.
    from .models.prompt_state import forget_prompt_states
    from .models.resolve import PROMPT_STATES_DIR

    if user is None:
        shutil.rmtree(home / PROMPT_STATES_DIR, ignore_errors=True)
        return
    forget_prompt_states(home / PROMPT_STATES_DIR, user, session_id)
