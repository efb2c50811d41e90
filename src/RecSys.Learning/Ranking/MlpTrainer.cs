using RecSys.Learning.Kernels;

namespace RecSys.Learning.Ranking;

/// <summary>Hyper-parameters of the MLP trainer (mini-batch Adam).</summary>
public sealed record MlpTrainerOptions
{
    /// <summary>Hidden layer widths, input side first; the output layer (one logit) is added.</summary>
    public IReadOnlyList<int> HiddenLayers { get; init; } = [256, 128, 64];

    public int Epochs { get; init; } = 8;

    public int BatchSize { get; init; } = 256;

    /// <summary>Adam step size at the start; it decays linearly to a tenth of it by the last step.</summary>
    public float LearningRate { get; init; } = 2e-3f;

    public float Beta1 { get; init; } = 0.9f;

    public float Beta2 { get; init; } = 0.999f;

    public float Epsilon { get; init; } = 1e-8f;

    /// <summary>
    /// Decoupled weight decay (AdamW): each step shrinks every weight, not the biases, by step size x WeightDecay. 0 turns it off.
    /// </summary>
    public float WeightDecay { get; init; }

    public int Seed { get; init; } = 42;

    /// <summary>Threads; -1 uses every core. The model does not depend on it.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    public void Validate()
    {
        if (HiddenLayers.Count == 0 || HiddenLayers.Any(h => h is < 1 or > 8192))
        {
            throw new ArgumentException("At least one hidden layer, each 1..8192 wide.", nameof(HiddenLayers));
        }

        if (Epochs < 1 || BatchSize < 1)
        {
            throw new ArgumentException($"Epochs and BatchSize must be >= 1 (got {Epochs}, {BatchSize}).");
        }

        if (!(LearningRate > 0) || !float.IsFinite(LearningRate) || Beta1 is < 0 or >= 1 || Beta2 is < 0 or >= 1 || !(Epsilon > 0))
        {
            throw new ArgumentException("LearningRate and Epsilon must be > 0, Beta1 and Beta2 in [0, 1).");
        }

        if (MaxDegreeOfParallelism is 0 or < -1)
        {
            throw new ArgumentException($"MaxDegreeOfParallelism must be -1 or >= 1 (got {MaxDegreeOfParallelism}).", nameof(MaxDegreeOfParallelism));
        }

        if (!(WeightDecay >= 0) || !float.IsFinite(WeightDecay))
        {
            throw new ArgumentException($"WeightDecay must be finite and >= 0 (got {WeightDecay}).", nameof(WeightDecay));
        }
    }
}

/// <summary>Mean training loss of one epoch.</summary>
public sealed record MlpEpochReport(int Epoch, int TotalEpochs, double Loss, TimeSpan Elapsed);

/// <summary>
/// Trains <see cref="MlpModel"/>s in C#: He-initialised weights, standardized inputs (folded into the first layer at
/// the end), mini-batch Adam, either sigmoid cross-entropy against labels with sample weights (the main ranker) or
/// squared error against a teacher's logits (distillation). Each batch is cut into fixed chunks of rows whose gradients
/// are computed in parallel into per-chunk buffers and summed in chunk order, so the model is identical for a seed at
/// any thread count.
/// </summary>
public sealed class MlpTrainer
{
    private const int ChunkRows = 32;

    private readonly MlpTrainerOptions _options;
    private readonly TimeProvider _time;

    public MlpTrainer(MlpTrainerOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The main ranker: weighted sigmoid cross-entropy against the labels (label > 0 is a click).</summary>
    public MlpModel TrainClassifier(RankingDataset data, Action<MlpEpochReport>? onEpoch = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var targets = data.Labels.Select(l => l > 0 ? 1f : 0f).ToArray();
        return Train(data, targets, distill: false, onEpoch, cancellationToken);
    }

    /// <summary>A student: weighted squared error against the teacher's logits on the same rows.</summary>
    public MlpModel TrainStudent(RankingDataset data, float[] teacherLogits, Action<MlpEpochReport>? onEpoch = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(teacherLogits);
        if (teacherLogits.Length != data.RowCount || teacherLogits.Any(t => !float.IsFinite(t)))
        {
            throw new ArgumentException($"Expected {data.RowCount} finite teacher logits.", nameof(teacherLogits));
        }

        return Train(data, teacherLogits, distill: true, onEpoch, cancellationToken);
    }

    private MlpModel Train(RankingDataset data, float[] targets, bool distill, Action<MlpEpochReport>? onEpoch, CancellationToken cancellationToken)
    {
        var f = data.FeatureCount;
        var n = data.RowCount;
        int[] sizes = [f, .. _options.HiddenLayers, 1];
        var layers = sizes.Length - 1;
        var (mean, std) = Standardization(data);
        var x = new float[data.Features.Length];
        for (var r = 0; r < n; r++)
        {
            for (var k = 0; k < f; k++)
            {
                x[(r * f) + k] = (data.Features[(r * f) + k] - mean[k]) / std[k];
            }
        }

        // Flat parameter vector: W0, b0, W1, b1, ...
        var weightOffset = new int[layers];
        var biasOffset = new int[layers];
        var count = 0;
        for (var l = 0; l < layers; l++)
        {
            weightOffset[l] = count;
            count += sizes[l] * sizes[l + 1];
            biasOffset[l] = count;
            count += sizes[l + 1];
        }

        var parameters = new float[count];
        var rng = new Random(_options.Seed);
        for (var l = 0; l < layers; l++)
        {
            // He uniform: variance 2 / fan_in keeps ReLU activations at scale.
            var limit = MathF.Sqrt(6f / sizes[l]);
            for (var i = 0; i < sizes[l] * sizes[l + 1]; i++)
            {
                parameters[weightOffset[l] + i] = limit * ((2 * (float)rng.NextDouble()) - 1);
            }
        }

        var batch = _options.BatchSize;
        var chunks = (batch + ChunkRows - 1) / ChunkRows;
        var gradients = new float[chunks][];
        var losses = new double[chunks];
        var workspaces = new ChunkWorkspace[chunks];
        for (var c = 0; c < chunks; c++)
        {
            gradients[c] = new float[count];
            workspaces[c] = new ChunkWorkspace(sizes, ChunkRows);
        }

        var gradient = new float[count];
        var m1 = new float[count];
        var m2 = new float[count];
        var order = Enumerable.Range(0, n).ToArray();
        var stepsPerEpoch = (n + batch - 1) / batch;
        var totalSteps = (long)stepsPerEpoch * _options.Epochs;
        long step = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _options.MaxDegreeOfParallelism, CancellationToken = cancellationToken };
        for (var epoch = 0; epoch < _options.Epochs; epoch++)
        {
            var started = _time.GetTimestamp();
            rng.Shuffle(order);
            double epochLoss = 0, epochWeight = 0;
            for (var s = 0; s < stepsPerEpoch; s++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var first = s * batch;
                var rows = Math.Min(batch, n - first);
                var weightSum = 0f;
                for (var i = 0; i < rows; i++)
                {
                    weightSum += data.Weights[order[first + i]];
                }

                if (weightSum <= 0)
                {
                    continue;
                }

                var usedChunks = (rows + ChunkRows - 1) / ChunkRows;
                Parallel.For(0, usedChunks, parallel, c =>
                {
                    var begin = first + (c * ChunkRows);
                    var end = Math.Min(first + rows, begin + ChunkRows);
                    losses[c] = ChunkGradient(x, f, targets, data.Weights, order.AsSpan(begin, end - begin), weightSum, distill,
                        parameters, weightOffset, biasOffset, sizes, gradients[c], workspaces[c]);
                });

                gradients[0].CopyTo(gradient, 0);
                for (var c = 1; c < usedChunks; c++)
                {
                    VectorKernels.Axpy(1f, gradients[c], gradient);
                }

                for (var c = 0; c < usedChunks; c++)
                {
                    epochLoss += losses[c];
                }

                epochWeight += weightSum;
                step++;
                var rate = _options.LearningRate * (1f - (0.9f * (step - 1) / Math.Max(1, totalSteps - 1)));
                AdamStep(parameters, gradient, m1, m2, rate, step);
                if (_options.WeightDecay > 0)
                {
                    var shrink = 1f - (rate * _options.WeightDecay);
                    for (var l = 0; l < layers; l++)
                    {
                        foreach (ref var weight in parameters.AsSpan(weightOffset[l], sizes[l] * sizes[l + 1]))
                        {
                            weight *= shrink;
                        }
                    }
                }
            }

            onEpoch?.Invoke(new MlpEpochReport(epoch + 1, _options.Epochs, epochLoss / Math.Max(epochWeight, 1e-12), _time.GetElapsedTime(started)));
        }

        return Fold(data.FeatureNames, sizes, parameters, weightOffset, biasOffset, mean, std);
    }

    private static (float[] Mean, float[] Std) Standardization(RankingDataset data)
    {
        var f = data.FeatureCount;
        var sum = new double[f];
        var squares = new double[f];
        for (var r = 0; r < data.RowCount; r++)
        {
            var row = data.Row(r);
            for (var k = 0; k < f; k++)
            {
                sum[k] += row[k];
                squares[k] += (double)row[k] * row[k];
            }
        }

        var mean = new float[f];
        var std = new float[f];
        for (var k = 0; k < f; k++)
        {
            var mu = sum[k] / data.RowCount;
            var variance = Math.Max(0, (squares[k] / data.RowCount) - (mu * mu));
            mean[k] = (float)mu;
            // A constant column is left unscaled. The threshold is relative: E[x^2] - mu^2 of a constant non-zero column leaves
            // rounding noise of the order of mu^2 x 1e-16, and dividing by its root would blow the folded weights up (float
            // rounding then broke ONNX parity on a column held at the days-since cap).
            std[k] = variance > 1e-12 * Math.Max(1, mu * mu) ? (float)Math.Sqrt(variance) : 1f;
        }

        return (mean, std);
    }

    /// <summary>Forward and backward pass over one chunk of rows; writes the chunk's gradient and returns its weighted loss.</summary>
    private static double ChunkGradient(float[] x, int f, float[] targets, float[] weights, ReadOnlySpan<int> rows, float weightSum, bool distill,
        float[] parameters, int[] weightOffset, int[] biasOffset, int[] sizes, float[] gradient, ChunkWorkspace work)
    {
        Array.Clear(gradient);
        var layers = sizes.Length - 1;
        double loss = 0;
        for (var i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            var input = x.AsSpan(r * f, f);
            // Forward, keeping each layer's output (post-ReLU for hidden layers).
            ReadOnlySpan<float> current = input;
            for (var l = 0; l < layers; l++)
            {
                var output = work.Activations[l].AsSpan(i * sizes[l + 1], sizes[l + 1]);
                MlpModel.Forward(current, parameters.AsSpan(weightOffset[l], sizes[l] * sizes[l + 1]),
                    parameters.AsSpan(biasOffset[l], sizes[l + 1]), output, relu: l < layers - 1);
                current = output;
            }

            var z = current[0];
            var w = weights[r] / weightSum;
            float dz;
            if (distill)
            {
                var diff = z - targets[r];
                loss += weights[r] * 0.5 * diff * diff;
                dz = w * diff;
            }
            else
            {
                var y = targets[r];
                // log(1 + e^-|z|) form: stable for large |z|.
                loss += weights[r] * (Math.Max(z, 0) - (z * y) + Math.Log(1 + Math.Exp(-Math.Abs(z))));
                dz = w * (RankerMetrics.Sigmoid(z) - y);
            }

            // Backward.
            var deltaBuffer = work.DeltaA;
            var spareBuffer = work.DeltaB;
            var delta = deltaBuffer.AsSpan(0, 1);
            delta[0] = dz;
            for (var l = layers - 1; l >= 0; l--)
            {
                var inSize = sizes[l];
                var outSize = sizes[l + 1];
                ReadOnlySpan<float> layerInput = l == 0 ? input : work.Activations[l - 1].AsSpan(i * inSize, inSize);
                var gw = gradient.AsSpan(weightOffset[l], inSize * outSize);
                VectorKernels.Axpy(1f, delta, gradient.AsSpan(biasOffset[l], outSize));
                for (var k = 0; k < inSize; k++)
                {
                    if (layerInput[k] != 0)
                    {
                        VectorKernels.Axpy(layerInput[k], delta, gw.Slice(k * outSize, outSize));
                    }
                }

                if (l > 0)
                {
                    var previous = spareBuffer.AsSpan(0, inSize);
                    var wl = parameters.AsSpan(weightOffset[l], inSize * outSize);
                    for (var k = 0; k < inSize; k++)
                    {
                        // ReLU: no gradient through a unit that was off.
                        previous[k] = layerInput[k] > 0 ? VectorKernels.Dot(wl.Slice(k * outSize, outSize), delta) : 0f;
                    }

                    delta = previous;
                    (deltaBuffer, spareBuffer) = (spareBuffer, deltaBuffer);
                }
            }
        }

        return loss;
    }

    private void AdamStep(float[] parameters, float[] gradient, float[] m1, float[] m2, float rate, long step)
    {
        var b1 = _options.Beta1;
        var b2 = _options.Beta2;
        var correction1 = 1 - Math.Pow(b1, step);
        var correction2 = 1 - Math.Pow(b2, step);
        var stepSize = (float)(rate * Math.Sqrt(correction2) / correction1);
        var eps = _options.Epsilon;
        for (var i = 0; i < parameters.Length; i++)
        {
            var g = gradient[i];
            m1[i] = (b1 * m1[i]) + ((1 - b1) * g);
            m2[i] = (b2 * m2[i]) + ((1 - b2) * g * g);
            parameters[i] -= stepSize * m1[i] / (MathF.Sqrt(m2[i]) + eps);
        }
    }

    /// <summary>Folds x' = (x - mean) / std into the first layer: W0'[k,:] = W0[k,:] / std_k, b0' = b0 - sum_k mean_k W0'[k,:].</summary>
    private static MlpModel Fold(IReadOnlyList<string> names, int[] sizes, float[] parameters, int[] weightOffset, int[] biasOffset, float[] mean, float[] std)
    {
        var layers = sizes.Length - 1;
        var weights = new float[layers][];
        var biases = new float[layers][];
        for (var l = 0; l < layers; l++)
        {
            weights[l] = parameters.AsSpan(weightOffset[l], sizes[l] * sizes[l + 1]).ToArray();
            biases[l] = parameters.AsSpan(biasOffset[l], sizes[l + 1]).ToArray();
        }

        var outSize = sizes[1];
        var shift = new double[outSize];
        for (var k = 0; k < sizes[0]; k++)
        {
            var row = weights[0].AsSpan(k * outSize, outSize);
            for (var j = 0; j < outSize; j++)
            {
                row[j] /= std[k];
                shift[j] += (double)mean[k] * row[j];
            }
        }

        for (var j = 0; j < outSize; j++)
        {
            biases[0][j] = (float)(biases[0][j] - shift[j]);
        }

        return new MlpModel(names, sizes, weights, biases);
    }

    private sealed class ChunkWorkspace
    {
        public ChunkWorkspace(int[] sizes, int rows)
        {
            Activations = [.. sizes.Skip(1).Select(s => new float[s * rows])];
            DeltaA = new float[sizes.Max()];
            DeltaB = new float[sizes.Max()];
        }

        public float[][] Activations { get; }

        public float[] DeltaA { get; }

        public float[] DeltaB { get; }
    }
}
