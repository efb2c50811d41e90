using System.Numerics;
using System.Runtime.CompilerServices;
using RecSys.Learning.Interactions;
using RecSys.Learning.Kernels;

namespace RecSys.Learning.Als;

/// <summary>
/// Implicit-feedback weighted ALS (Hu, Koren, Volinsky 2008): minimises
/// <c>sum_{u,i} c_ui (p_ui - x_u.y_i)^2 + lambda (|X|^2 + |Y|^2)</c> with p = 1 on observed pairs, c = 1 + alpha * strength
/// there and c = 1, p = 0 elsewhere. Each half-epoch fixes one side, computes its Gram matrix G = Y^T Y + lambda I once,
/// and improves every row of the other side with a few conjugate-gradient steps on
/// <c>(G + Y_u^T (C_u - I) Y_u) x = Y_u^T C_u p_u</c>, warm-started from the row's previous value (Takacs, Pilaszy, Tikk 2011),
/// so no d x d system is formed per row and the cost is O(steps (d^2 + nnz_u d)).
/// Deterministic for a seed at any thread count: a row's solve reads only the other side and its own previous value,
/// the Gram matrix is summed over a fixed partition, and rows are initialised from a per-row seeded generator.
/// </summary>
public sealed class AlsTrainer
{
    // Fixed partition of the Gram sum, independent of the thread count (determinism).
    private const int GramChunks = 32;
    private const int RowsPerTask = 256;

    private readonly AlsOptions _options;
    private readonly TimeProvider _time;

    public AlsTrainer(AlsOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
    }

    public AlsOptions Options => _options;

    /// <summary>Fresh factors for <paramref name="matrix"/>'s shape, drawn from the seed.</summary>
    public FactorModel Initialize(InteractionMatrix matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        var d = _options.Dimension;
        var users = new float[(long)matrix.UserCount * d];
        var items = new float[(long)matrix.ItemCount * d];
        var scale = _options.InitScale / MathF.Sqrt(d);
        InitializeRows(users, d, side: 0, scale);
        InitializeRows(items, d, side: 1, scale);
        return new FactorModel(matrix.UserCount, matrix.ItemCount, d, users, items);
    }

    /// <summary>
    /// Trains for <see cref="AlsOptions.Epochs"/> epochs in total. With <paramref name="resume"/> the factors and the
    /// completed epoch count come from a checkpoint and training continues from there; with
    /// <paramref name="checkpointPath"/> a checkpoint is written after every epoch.
    /// </summary>
    public FactorModel Train(
        InteractionMatrix matrix,
        Action<AlsEpochReport>? onEpoch = null,
        AlsCheckpoint? resume = null,
        string? checkpointPath = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        var model = resume?.Model ?? Initialize(matrix);
        var startEpoch = resume?.EpochsCompleted ?? 0;
        if (resume is not null)
        {
            if (model.UserCount != matrix.UserCount || model.ItemCount != matrix.ItemCount || model.Dimension != _options.Dimension)
            {
                throw new ArgumentException(
                    $"Checkpoint shape {model.UserCount} users x {model.ItemCount} items x d{model.Dimension} does not match the matrix "
                    + $"({matrix.UserCount} x {matrix.ItemCount}) and options (d{_options.Dimension}).", nameof(resume));
            }

            if (resume.Seed != _options.Seed)
            {
                throw new ArgumentException($"Checkpoint was trained with seed {resume.Seed}, options say {_options.Seed}.", nameof(resume));
            }
        }

        var d = _options.Dimension;
        var gram = new float[d * d];
        for (var epoch = startEpoch; epoch < _options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var started = _time.GetTimestamp();

            var t0 = _time.GetTimestamp();
            ComputeGram(model.ItemFactors, matrix.ItemCount, gram);
            var gramTime = _time.GetElapsedTime(t0);
            t0 = _time.GetTimestamp();
            SolveSide(matrix.UserItems, model.ItemFactors, model.UserFactors, gram, cancellationToken);
            var userTime = _time.GetElapsedTime(t0);

            t0 = _time.GetTimestamp();
            ComputeGram(model.UserFactors, matrix.UserCount, gram);
            gramTime += _time.GetElapsedTime(t0);
            t0 = _time.GetTimestamp();
            SolveSide(matrix.ItemUsers, model.UserFactors, model.ItemFactors, gram, cancellationToken);
            var itemTime = _time.GetElapsedTime(t0);

            double? loss = _options.ComputeLoss ? Loss(matrix, model) : null;
            if (checkpointPath is not null)
            {
                AlsCheckpoint.Save(checkpointPath, new AlsCheckpoint(model, epoch + 1, _options.Seed));
            }

            onEpoch?.Invoke(new AlsEpochReport(epoch + 1, _options.Epochs, _time.GetElapsedTime(started), gramTime, userTime, itemTime, loss));
        }

        return model;
    }

    /// <summary>
    /// The objective divided by the number of observed pairs:
    /// <c>sum_u x_u^T (Y^T Y) x_u + sum_observed [c (1 - s)^2 - s^2] + lambda (|X|^2 + |Y|^2)</c>, where s = x_u.y_i
    /// (the first term counts every pair as unobserved, the second corrects the observed ones).
    /// </summary>
    public double Loss(InteractionMatrix matrix, FactorModel model)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentNullException.ThrowIfNull(model);
        var d = model.Dimension;
        var gram = new float[d * d];
        ComputeGram(model.ItemFactors, matrix.ItemCount, gram, regularization: 0);
        var perUser = new double[matrix.UserCount];
        var alpha = _options.Alpha;
        Parallel.For(0, matrix.UserCount, ParallelOptions(), () => new float[d], (u, _, scratch) =>
        {
            var x = model.UserFactors.AsSpan(u * d, d);
            VectorKernels.SymmetricMatVec(gram, x, scratch);
            double total = VectorKernels.Dot(x, scratch);
            var items = matrix.UserItems.RowColumns(u);
            var strengths = matrix.UserItems.RowValues(u);
            for (var k = 0; k < items.Length; k++)
            {
                double s = VectorKernels.Dot(x, model.ItemFactors.AsSpan(items[k] * d, d));
                double c = ConfidenceFunction.Confidence(alpha, strengths[k]);
                total += (c * (1 - s) * (1 - s)) - (s * s);
            }

            total += _options.Regularization * VectorKernels.Dot(x, x);
            perUser[u] = total;
            return scratch;
        }, _ => { });

        var sum = 0.0;
        foreach (var value in perUser)
        {
            sum += value;
        }

        var itemNorms = 0.0;
        for (var i = 0; i < matrix.ItemCount; i++)
        {
            var y = model.ItemFactors.AsSpan(i * d, d);
            itemNorms += VectorKernels.Dot(y, y);
        }

        sum += _options.Regularization * itemNorms;
        return sum / Math.Max(1, matrix.InteractionCount);
    }

    private ParallelOptions ParallelOptions() => new() { MaxDegreeOfParallelism = _options.MaxDegreeOfParallelism };

    /// <summary>G = F^T F + regularization I over <paramref name="rows"/> rows of <paramref name="factors"/>.</summary>
    internal void ComputeGram(float[] factors, int rows, float[] gram, float? regularization = null)
    {
        var d = _options.Dimension;
        var partials = new float[GramChunks][];
        var chunkRows = (rows + GramChunks - 1) / GramChunks;
        Parallel.For(0, GramChunks, ParallelOptions(), c =>
        {
            var start = Math.Min(rows, c * chunkRows);
            var end = Math.Min(rows, start + chunkRows);
            var partial = new float[d * d];
            // Blocks of 64 rows keep the eight-row panels in L1 while the d x d partial stays in L1/L2.
            for (var r = start; r < end; r += 64)
            {
                var count = Math.Min(64, end - r);
                VectorKernels.GramAccumulate(factors.AsSpan(r * d, count * d), d, partial);
            }

            partials[c] = partial;
        });

        // Fixed summation order, then mirror the upper triangle.
        var lambda = regularization ?? _options.Regularization;
        for (var a = 0; a < d; a++)
        {
            for (var j = a; j < d; j++)
            {
                var s = 0f;
                for (var c = 0; c < GramChunks; c++)
                {
                    s += partials[c][(a * d) + j];
                }

                if (a == j)
                {
                    s += lambda;
                }

                gram[(a * d) + j] = s;
                gram[(j * d) + a] = s;
            }
        }
    }

    /// <summary>One half-epoch: every row of <paramref name="target"/> from the fixed <paramref name="other"/> side.</summary>
    internal void SolveSide(CsrMatrix rows, float[] other, float[] target, float[] gram, CancellationToken cancellationToken)
    {
        var d = _options.Dimension;
        var tasks = (rows.RowCount + RowsPerTask - 1) / RowsPerTask;
        var options = ParallelOptions();
        options.CancellationToken = cancellationToken;
        Parallel.For(0, tasks, options, () => new CgScratch(d), (t, _, scratch) =>
        {
            var end = Math.Min(rows.RowCount, (t + 1) * RowsPerTask);
            for (var r = t * RowsPerTask; r < end; r++)
            {
                SolveRow(rows.RowColumns(r), rows.RowValues(r), other, gram, target.AsSpan(r * d, d), scratch);
            }

            return scratch;
        }, _ => { });
    }

    /// <summary>
    /// Conjugate-gradient steps on A x = b with A = G + sum_i (c_i - 1) y_i y_i^T and b = sum_i c_i y_i, from the current x.
    /// A is never formed: A v = G v + sum_i (c_i - 1)(y_i . v) y_i.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void SolveRow(ReadOnlySpan<int> columns, ReadOnlySpan<float> strengths, float[] other, float[] gram, Span<float> x, CgScratch scratch)
    {
        var d = x.Length;
        var alpha = _options.Alpha;
        var r = scratch.Residual;
        var p = scratch.Direction;
        var ap = scratch.Product;

        // r = b - A x
        VectorKernels.SymmetricMatVec(gram, x, ap);
        for (var k = 0; k < d; k++)
        {
            r[k] = -ap[k];
        }

        var coefficients = scratch.Coefficients(columns.Length);
        Project(columns, strengths, alpha, other, x, r, residual: true, coefficients);

        r.CopyTo(p);
        var rsOld = VectorKernels.Dot(r, r);
        for (var step = 0; step < _options.ConjugateGradientSteps; step++)
        {
            if (rsOld < 1e-20f)
            {
                break;
            }

            VectorKernels.SymmetricMatVec(gram, p, ap);
            Project(columns, strengths, alpha, other, p, ap, residual: false, coefficients);

            var pAp = VectorKernels.Dot(p, ap);
            if (!(pAp > 0))
            {
                // A is positive definite; a non-positive curvature means round-off dominates: stop here.
                break;
            }

            var stepSize = rsOld / pAp;
            VectorKernels.Axpy(stepSize, p, x);
            VectorKernels.Axpy(-stepSize, ap, r);
            var rsNew = VectorKernels.Dot(r, r);
            var beta = rsNew / rsOld;
            for (var k = 0; k < d; k++)
            {
                p[k] = r[k] + (beta * p[k]);
            }

            rsOld = rsNew;
        }
    }

    /// <summary>
    /// Which form of the sparse projection the solver uses: the two-pass kernel; the one-pass form stays selectable so the
    /// benchmark can run both side by side on the same problem.
    /// </summary>
    internal static bool UseOnePassProjection { get; set; }

    private static void Project(ReadOnlySpan<int> columns, ReadOnlySpan<float> strengths, float alpha, float[] other,
        ReadOnlySpan<float> v, Span<float> acc, bool residual, Span<float> coefficients)
    {
        if (UseOnePassProjection)
        {
            VectorKernels.SparseProjection(columns, strengths, alpha, other, v, acc, residual, KernelDispatch.Best);
        }
        else
        {
            VectorKernels.SparseProjectionTwoPass(columns, strengths, alpha, other, v, acc, residual, KernelDispatch.Best, coefficients);
        }
    }

    private void InitializeRows(float[] factors, int d, int side, float scale)
    {
        var rows = factors.Length / d;
        var seed = _options.Seed;
        Parallel.For(0, (rows + RowsPerTask - 1) / RowsPerTask, ParallelOptions(), t =>
        {
            var end = Math.Min(rows, (t + 1) * RowsPerTask);
            for (var row = t * RowsPerTask; row < end; row++)
            {
                var state = SplitMix.Mix(seed ^ SplitMix.Mix(((ulong)side << 40) ^ (ulong)row));
                var v = factors.AsSpan(row * d, d);
                for (var k = 0; k < d; k++)
                {
                    state += SplitMix.Gamma;
                    var unit = (SplitMix.Mix(state) >> 40) * (1.0f / (1 << 24));
                    v[k] = ((2f * unit) - 1f) * scale;
                }
            }
        });
    }

    internal sealed class CgScratch(int d)
    {
        public float[] Residual { get; } = new float[d];

        public float[] Direction { get; } = new float[d];

        public float[] Product { get; } = new float[d];

        private float[] _coefficients = new float[256];

        /// <summary>Scratch for one coefficient per nonzero of a row, grown to the longest row seen.</summary>
        public Span<float> Coefficients(int count)
        {
            if (_coefficients.Length < count)
            {
                _coefficients = new float[(int)Math.Min(Array.MaxLength, BitOperations.RoundUpToPowerOf2((uint)count))];
            }

            return _coefficients.AsSpan(0, count);
        }
    }
}

/// <summary>SplitMix64 finaliser: a cheap, well-mixed hash for per-row seeding.</summary>
internal static class SplitMix
{
    public const ulong Gamma = 0x9E3779B97F4A7C15UL;

    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
