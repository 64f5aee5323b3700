"""RSFNet (paper 1): re-parameterisable encoders, the fusion module, the decoder and heads, its builders."""
