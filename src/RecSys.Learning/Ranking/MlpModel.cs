using RecSys.Learning.Kernels;

namespace RecSys.Learning.Ranking;

/// <summary>
/// A fully connected ranker: Linear, ReLU, ..., Linear to one raw logit (the click log-odds). Weights of layer l are
/// row-major <c>LayerSizes[l] x LayerSizes[l+1]</c> (input-major, as ONNX Gemm's B without transpose); the input
/// standardization used in training is already folded into the first layer, so raw features go straight in.
/// </summary>
public sealed class MlpModel
{
    public MlpModel(IReadOnlyList<string> featureNames, IReadOnlyList<int> layerSizes, float[][] weights, float[][] biases)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(layerSizes);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(biases);
        if (layerSizes.Count < 2 || layerSizes[0] != featureNames.Count || layerSizes[^1] != 1 || layerSizes.Any(s => s < 1))
        {
            throw new ArgumentException("Layer sizes must start at the feature count, end at 1 and be positive.", nameof(layerSizes));
        }

        if (weights.Length != layerSizes.Count - 1 || biases.Length != weights.Length)
        {
            throw new ArgumentException("One weight matrix and one bias vector per layer are expected.", nameof(weights));
        }

        for (var l = 0; l < weights.Length; l++)
        {
            if (weights[l].Length != layerSizes[l] * layerSizes[l + 1] || biases[l].Length != layerSizes[l + 1])
            {
                throw new ArgumentException($"Layer {l} must be {layerSizes[l]} x {layerSizes[l + 1]} with {layerSizes[l + 1]} biases.", nameof(weights));
            }
        }

        FeatureNames = [.. featureNames];
        LayerSizes = [.. layerSizes];
        Weights = weights;
        Biases = biases;
    }

    public IReadOnlyList<string> FeatureNames { get; }

    public IReadOnlyList<int> LayerSizes { get; }

    public float[][] Weights { get; }

    public float[][] Biases { get; }

    public int ParameterCount => Weights.Sum(w => w.Length) + Biases.Sum(b => b.Length);

    /// <summary>Multiply-adds per scored row.</summary>
    public long MultiplyAddsPerRow => Weights.Sum(w => (long)w.Length);

    /// <summary>Logits of row-major rows, in parallel over blocks of rows (each row's arithmetic is fixed, so the result is too).</summary>
    public void Score(ReadOnlySpan<float> rows, Span<float> logits, int maxDegreeOfParallelism = -1)
    {
        var f = LayerSizes[0];
        if (rows.Length != (long)logits.Length * f)
        {
            throw new ArgumentException($"Expected {logits.Length} rows of {f} features.", nameof(rows));
        }

        const int Block = 256;
        var input = rows.ToArray();
        var count = logits.Length;
        var output = new float[count];
        var blocks = (count + Block - 1) / Block;
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, () => new float[2 * LayerSizes.Max()], (b, _, scratch) =>
        {
            var end = Math.Min(count, (b + 1) * Block);
            for (var r = b * Block; r < end; r++)
            {
                output[r] = ScoreRow(input.AsSpan(r * f, f), scratch);
            }

            return scratch;
        }, _ => { });
        output.CopyTo(logits);
    }

    private float ScoreRow(ReadOnlySpan<float> row, float[] scratch)
    {
        var width = LayerSizes.Max();
        ReadOnlySpan<float> current = row;
        for (var l = 0; l < Weights.Length; l++)
        {
            var outSize = LayerSizes[l + 1];
            var next = scratch.AsSpan((l % 2) * width, outSize);
            Forward(current, Weights[l], Biases[l], next, relu: l < Weights.Length - 1);
            current = next;
        }

        return current[0];
    }

    /// <summary>output = input W + b, optionally through ReLU; W is input.Length x output.Length row-major.</summary>
    internal static void Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, Span<float> output, bool relu)
    {
        var outSize = output.Length;
        bias.CopyTo(output);
        for (var k = 0; k < input.Length; k++)
        {
            var x = input[k];
            if (x != 0)
            {
                VectorKernels.Axpy(x, weights.Slice(k * outSize, outSize), output);
            }
        }

        if (relu)
        {
            for (var j = 0; j < outSize; j++)
            {
                output[j] = MathF.Max(output[j], 0);
            }
        }
    }
}
