"""The model's life: training, scoring, MLflow tracking, atomic deployment."""
