"""Identity adapters: bearer tokens minted and verified behind the TokenVerifier port."""
