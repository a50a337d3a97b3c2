"""Issue 14: per-tenant credentials at rest — the Fernet box and the stores (ADR 0036).

`secret_box(keys)` is the SecretBox of BOOKKEEPER_CREDENTIALS_KEY (None without a key);
`SqlCredentialsStore` keeps the rows in the `tenant_credentials` table (migration 0018),
`MemoryCredentialsStore` in the in-memory database; both are a unit of work's
`credentials`, so a change and its audit event commit together (ADR 0044).
"""

from __future__ import annotations

from bookkeeper.adapters.credentials.fernet import FernetBox, secret_box
from bookkeeper.adapters.credentials.memory import MemoryCredentialsStore

__all__ = ["FernetBox", "MemoryCredentialsStore", "secret_box"]
