"""Personal data: masking it (:mod:`~recchat.privacy.pii`), keeping prompts out of logs
(:mod:`~recchat.privacy.prompt_log`), and forgetting a user (:mod:`~recchat.privacy.forget`).

    mask_pii("mail me at jo@example.org or call +44 20 7946 0958")
    # MaskResult(text='mail me at [email] or call [phone]', counts={'email': 1, 'phone': 1})
"""

from __future__ import annotations

from recchat.privacy.forget import (
    MAX_SCAN_BYTES,
    SKIPPED_FOLDERS,
    USER_KEYS,
    ForgetReport,
    forget_user,
    mention_pattern,
    user_file_name,
)
from recchat.privacy.pii import (
    KINDS,
    NO_EXEMPTIONS,
    TOKENS,
    MaskResult,
    PiiSpan,
    TitleExemptions,
    exempting,
    find_pii,
    mask_pii,
    masked,
)
from recchat.privacy.prompt_log import (
    DEBUG_PROMPTS_ENV,
    acting_for,
    log_prompts,
    prompt_log_path,
    prompts_logged,
    steps_acting_for,
)

__all__ = [
    "DEBUG_PROMPTS_ENV",
    "KINDS",
    "MAX_SCAN_BYTES",
    "NO_EXEMPTIONS",
    "SKIPPED_FOLDERS",
    "TOKENS",
    "USER_KEYS",
    "ForgetReport",
    "MaskResult",
    "PiiSpan",
    "TitleExemptions",
    "acting_for",
    "exempting",
    "find_pii",
    "forget_user",
    "log_prompts",
    "mask_pii",
    "masked",
    "mention_pattern",
    "prompt_log_path",
    "prompts_logged",
    "steps_acting_for",
    "user_file_name",
]
