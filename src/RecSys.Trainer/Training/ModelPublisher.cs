using RecSys.Trainer.Ingestion;

namespace RecSys.Trainer.Training;

/// <summary>
/// Makes a trained model's vectors available to serving. One seam, so that versioned publishing (a new version namespace
/// and one atomic switch) can replace the direct upload without touching training.
/// </summary>
public interface IModelPublisher
{
    string Destination { get; }

    Task<(int Items, int Users)> PublishAsync(TrainedModel model, CancellationToken cancellationToken);
}

/// <summary>Uploads item vectors and user embeddings to the Retrieval service's index API (<see cref="VectorIndexUploader"/>).</summary>
public sealed class RetrievalIndexPublisher(FeatureServerClient retrieval) : IModelPublisher
{
    public string Destination => retrieval.BaseAddress?.ToString() ?? "(no address)";

    public Task<(int Items, int Users)> PublishAsync(TrainedModel model, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        return VectorIndexUploader.UploadAsync(retrieval, model.Dimension, model.ItemIds, model.ItemVectors, model.UserIds, model.UserVectors, cancellationToken);
    }
}
