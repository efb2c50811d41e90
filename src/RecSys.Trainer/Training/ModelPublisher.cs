using RecSys.Trainer.Ingestion;

namespace RecSys.Trainer.Training;

/// <summary>Makes a trained model's vectors available to serving.</summary>
public interface IModelPublisher
{
    string Destination { get; }

    /// <summary>Publishes the model's vectors as embedding version <paramref name="version"/> (the model's manifest version).</summary>
    Task<PublishOutcome> PublishAsync(TrainedModel model, string version, CancellationToken cancellationToken);
}

/// <summary>
/// Publishes item vectors and user embeddings to the Retrieval service as one embedding version, activated only if the
/// rebuilt index passes its recall check (<see cref="VectorIndexUploader"/>).
/// </summary>
public sealed class RetrievalIndexPublisher(FeatureServerClient retrieval, TimeProvider time, TimeSpan pollInterval) : IModelPublisher
{
    public string Destination => retrieval.BaseAddress?.ToString() ?? "(no address)";

    public Task<PublishOutcome> PublishAsync(TrainedModel model, string version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        return VectorIndexUploader.PublishAsync(retrieval, version, model.Dimension, model.ItemIds, model.ItemVectors, model.UserIds, model.UserVectors, time, pollInterval, cancellationToken);
    }
}
