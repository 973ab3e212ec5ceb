"""Learned reconstruct-then-deblur cascades, trained on DeSpike's data and budget
(docs/cascades.md): a Spk2ImgNet-style reconstruction network (:mod:`.spk2imgnet`), a
GKMNet-style deblurring network (:mod:`.gkmnet`), the stages that chain them
(:mod:`.model`), their weights (:mod:`.weights`), inference (:mod:`.infer`) and training
(:mod:`.train`, on DeSpike's loop). Importing a submodule imports torch.
"""
