"""SAF-T Financial: the XML writer, the vendored XSD and tax codes, the default groupings."""
