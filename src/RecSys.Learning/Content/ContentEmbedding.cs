using RecSys.Learning.Als;

namespace RecSys.Learning.Content;

/// <summary>Parameters of <see cref="ContentModel"/>.</summary>
public sealed record ContentOptions
{
    /// <summary>Dimension of the content space (the SVD rank).</summary>
    public int Dimension { get; init; } = 64;

    public TfIdfOptions TfIdf { get; init; } = new();

    public int Oversampling { get; init; } = 10;

    public int PowerIterations { get; init; } = 2;

    public ulong Seed { get; init; } = 42;

    /// <summary>Ridge lambda of the projection into the collaborative space.</summary>
    public float ProjectionRegularization { get; init; } = 1f;

    public void Validate()
    {
        if (Dimension is < 1 or > 1024)
        {
            throw new ArgumentException($"Dimension must be in [1, 1024] (got {Dimension}).", nameof(Dimension));
        }

        TfIdf.Validate();
        if (Oversampling < 0 || PowerIterations < 0)
        {
            throw new ArgumentException($"Oversampling and PowerIterations must be >= 0 (got {Oversampling}, {PowerIterations}).");
        }

        if (!float.IsFinite(ProjectionRegularization) || ProjectionRegularization <= 0)
        {
            throw new ArgumentException($"ProjectionRegularization must be finite and > 0 (got {ProjectionRegularization}).", nameof(ProjectionRegularization));
        }
    }
}

/// <summary>
/// Content embeddings of items: hashed TF-IDF of categories, tags and title words (<see cref="HashedTfIdf"/>) reduced to
/// <see cref="ContentOptions.Dimension"/> by a seeded randomized SVD (<see cref="RandomizedSvd"/>), rows scaled to unit
/// length. Items unknown at fit time are embedded the same way, so a brand-new item gets a vector at once.
/// </summary>
public sealed class ContentModel
{
    private ContentModel(HashedTfIdf tfIdf, RandomizedSvd svd)
    {
        TfIdf = tfIdf;
        Svd = svd;
    }

    public HashedTfIdf TfIdf { get; }

    public RandomizedSvd Svd { get; }

    public int Dimension => Svd.Rank;

    public static ContentModel Fit(IReadOnlyList<ItemContent> items, ContentOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        options ??= new ContentOptions();
        options.Validate();
        if (items.Count == 0)
        {
            throw new ArgumentException("Content embeddings need at least one item.", nameof(items));
        }

        var tfIdf = HashedTfIdf.Fit(items, options.TfIdf);
        var svd = RandomizedSvd.Fit(tfIdf.Transform(items), options.Dimension, options.Seed, options.Oversampling, options.PowerIterations);
        return new ContentModel(tfIdf, svd);
    }

    /// <summary>Unit-length embeddings (items x <see cref="Dimension"/>, row-major); an item with no content gets zeros.</summary>
    public float[] Embed(IReadOnlyList<ItemContent> items)
    {
        var embeddings = Svd.Transform(TfIdf.Transform(items));
        var k = Dimension;
        for (var r = 0; r < items.Count; r++)
        {
            var row = embeddings.AsSpan(r * k, k);
            var norm = MathF.Sqrt(Kernels.VectorKernels.Dot(row, row));
            if (norm > 0)
            {
                foreach (ref var x in row)
                {
                    x /= norm;
                }
            }
        }

        return embeddings;
    }
}

/// <summary>
/// A linear map from content embeddings into the collaborative (ALS item factor) space, fitted by ridge regression on warm
/// items, which have both: <c>W = argmin |[E 1] W - Y|^2 + lambda |W|^2</c> (the intercept column included). A cold item,
/// which has only content, is placed at <c>[e 1] W</c>, near the warm items whose content resembles its own.
/// </summary>
public sealed class ContentProjection
{
    private readonly double[] _weights;

    private ContentProjection(int inputDimension, int outputDimension, double[] weights)
    {
        InputDimension = inputDimension;
        OutputDimension = outputDimension;
        _weights = weights;
    }

    public int InputDimension { get; }

    public int OutputDimension { get; }

    /// <param name="content">Warm items' content embeddings (n x inputDimension, row-major).</param>
    /// <param name="collaborative">The same items' collaborative factors (n x outputDimension, row-major).</param>
    public static ContentProjection Fit(float[] content, int inputDimension, float[] collaborative, int outputDimension, float lambda)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(collaborative);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputDimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputDimension, 1);
        if (!float.IsFinite(lambda) || lambda <= 0)
        {
            throw new ArgumentException($"Lambda must be finite and > 0 (got {lambda}).", nameof(lambda));
        }

        if (content.Length % inputDimension != 0 || collaborative.Length % outputDimension != 0
            || content.Length / inputDimension != collaborative.Length / outputDimension)
        {
            throw new ArgumentException(
                $"Content ({content.Length} floats of d{inputDimension}) and collaborative ({collaborative.Length} floats of d{outputDimension}) rows do not match.");
        }

        var n = content.Length / inputDimension;
        if (n == 0)
        {
            throw new ArgumentException("A projection needs at least one warm item.", nameof(content));
        }

        var p = inputDimension + 1;
        var design = new double[(long)n * p];
        for (var r = 0; r < n; r++)
        {
            for (var j = 0; j < inputDimension; j++)
            {
                design[((long)r * p) + j] = content[((long)r * inputDimension) + j];
            }

            design[((long)r * p) + inputDimension] = 1;
        }

        var gram = DenseMath.Gram(design, n, p);
        for (var j = 0; j < p; j++)
        {
            gram[(j * p) + j] += lambda;
        }

        var rhs = new double[p * outputDimension];
        for (var r = 0; r < n; r++)
        {
            for (var j = 0; j < p; j++)
            {
                var x = design[((long)r * p) + j];
                if (x == 0)
                {
                    continue;
                }

                for (var c = 0; c < outputDimension; c++)
                {
                    rhs[(j * outputDimension) + c] += x * collaborative[((long)r * outputDimension) + c];
                }
            }
        }

        DenseMath.CholeskyInPlace(gram, p);
        DenseMath.CholeskySolve(gram, p, rhs, outputDimension);
        return new ContentProjection(inputDimension, outputDimension, rhs);
    }

    /// <summary>[e 1] W for every row of <paramref name="content"/> (n x InputDimension, row-major).</summary>
    public float[] Project(float[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (content.Length % InputDimension != 0)
        {
            throw new ArgumentException($"Content must hold rows of {InputDimension} floats.", nameof(content));
        }

        var n = content.Length / InputDimension;
        var d = OutputDimension;
        var result = new float[(long)n * d];
        Parallel.For(0, n, r =>
        {
            for (var c = 0; c < d; c++)
            {
                var sum = _weights[(InputDimension * d) + c];
                for (var j = 0; j < InputDimension; j++)
                {
                    sum += content[((long)r * InputDimension) + j] * _weights[(j * d) + c];
                }

                result[((long)r * d) + c] = (float)sum;
            }
        });
        return result;
    }
}

/// <summary>Content embeddings for the items ALS could not place, projected into its space.</summary>
public static class ColdStart
{
    /// <summary>
    /// Fits the projection on the warm items (indices into <paramref name="contentEmbeddings"/> given with their factors in
    /// <paramref name="model"/>'s item order) and returns the projected vectors of <paramref name="coldItems"/>.
    /// </summary>
    public static float[] ProjectColdItems(float[] contentEmbeddings, int contentDimension, IReadOnlyList<int> warmContentRows, FactorModel model, IReadOnlyList<int> coldItems, float lambda)
    {
        ArgumentNullException.ThrowIfNull(contentEmbeddings);
        ArgumentNullException.ThrowIfNull(warmContentRows);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(coldItems);
        if (warmContentRows.Count != model.ItemCount)
        {
            throw new ArgumentException($"Need one content row per model item ({model.ItemCount}), got {warmContentRows.Count}.", nameof(warmContentRows));
        }

        var warm = Gather(contentEmbeddings, contentDimension, warmContentRows);
        var projection = ContentProjection.Fit(warm, contentDimension, model.ItemFactors, model.Dimension, lambda);
        return projection.Project(Gather(contentEmbeddings, contentDimension, coldItems));
    }

    private static float[] Gather(float[] rows, int dimension, IReadOnlyList<int> indices)
    {
        var result = new float[(long)indices.Count * dimension];
        for (var i = 0; i < indices.Count; i++)
        {
            rows.AsSpan(indices[i] * dimension, dimension).CopyTo(result.AsSpan(i * dimension, dimension));
        }

        return result;
    }
}
