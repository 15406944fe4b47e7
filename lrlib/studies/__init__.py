"""One module per notebook, named like it: what is particular to that notebook's paper (its method, its
experiments, its findings). Each builds on the shared blocks of :mod:`lrlib`; no block imports a study.

| notebook            | module                 | paper                                                    |
|---------------------|------------------------|----------------------------------------------------------|
| 01_degradation      | ``degradation``        | Tan et al. 2018 (Fig. 2, Table 1); Wu et al. 2019 (Fig. 1) |
| 02_fsr_gan          | ``fsr_gan`` (package)  | Tan et al., Feature Super-Resolution, CVPR 2018          |
| 03_feature_transfer | ``feature_transfer``   | Wu et al., Unsupervised Deep Feature Transfer, ICCV-W 2019 |
| 04_distillation     | ``distillation``       | Zhu et al., Deep Feature Distillation, ICASSP 2019       |
| 05_dog_sr_sift      | ``dog_sr_sift`` (package) | Noor et al., Multi-Scale Gradient Image SR for SIFT      |
"""
