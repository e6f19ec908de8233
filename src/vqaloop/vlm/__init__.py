"""Vision-language models at paper scale: VisualQuality-R1 (Qwen2.5-VL) as f and g, LLaVA-OneVision students.

Modules: ``tiny_qwen`` and ``tiny_llava`` (tiny random-weight Qwen2.5-VL and LLaVA-OneVision built offline, on
``tiny``'s byte-level tokenizer, toy decoder sizes and atomic writer), ``loading`` (``load_vlm`` with clear
errors), ``prompts`` (MDS-VQA Tables 1 and 10), ``answers`` (answer parsing), ``frames`` (frame sampling from
video files), ``scoring`` (deterministic one-pass expected scores, and generate-based scores for comparison),
``cli`` (``vqaloop tiny-vlm``). Built on them, one layer up: the base model ``visualquality_r1``
(``vqaloop.models.vlm``), the VLM branch of ``vqaloop score`` (``vqaloop.models.score_vlm``) and the GRPO
training loops (``vqaloop.training.vlm_grpo``, ``vqaloop.training.vlm_failure``).
Heavy imports (torch, transformers) happen inside functions, so importing this package is cheap.
"""
