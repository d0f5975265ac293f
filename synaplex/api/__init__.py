"""The namespaces users see: synaplex.saving, synaplex.utils, synaplex.errors."""
