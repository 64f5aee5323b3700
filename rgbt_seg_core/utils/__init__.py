"""Small helpers with no knowledge of models or data: atomic writes, safetensors I/O, class tables, dependencies."""
