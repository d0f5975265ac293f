"""Scale out on Ray: batch predict and evaluate over a Ray Dataset (``pip install "synaplex[ray]"``).

    import ray
    import synaplex.ray

    ray.init()
    result = synaplex.ray.predict("qa.json", "questions.jsonl", output_path="out/", num_actors=4, concurrency=32)
    logs = synaplex.ray.evaluate(program, "test.jsonl", output_path="eval/", batch_size=32)

Importing this package loads neither Ray nor pyarrow; they load when a job starts. See the
README's "Scaling out".
"""

from synaplex.ray.batch import BatchJobError, PredictResult, evaluate, predict
from synaplex.ray.errors import DatasetColumnError, DatasetFileNotFoundError, ShardMismatchError
from synaplex.ray.prefix import PrefixShare, prefix_share, render_prompt

__all__ = ["BatchJobError", "DatasetColumnError", "DatasetFileNotFoundError", "PredictResult", "PrefixShare",
           "ShardMismatchError", "evaluate", "predict", "prefix_share", "render_prompt"]
