"""CIMNet (paper 2): CIPA, SCSFR, FFM, the MLP decoder and its builders."""
