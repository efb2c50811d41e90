using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Onnx;

namespace RecSys.Ranking.Models;

/// <summary>
/// A pre-ranker's tree ensemble compiled from its own <c>model.onnx</c> (one <c>ai.onnx.ml</c> TreeEnsembleRegressor with
/// BRANCH_LEQ splits, one target, SUM, no post transform) into flat arrays, and scored without ONNX Runtime, which walks
/// one row through one tree at a time and mispredicts about every other split.
/// <para>
/// With trees of at most 32 leaves and 256-bit vectors (<see cref="Method"/> = <c>quickscorer</c>), the exit leaf of
/// every tree is found as QuickScorer does (Lucchese et al., SIGIR 2015), sixteen rows at a time: the leaves of a tree are
/// numbered left to right; a split whose test is false rules out the leaves of its true (left) subtree; the exit leaf is
/// the leftmost leaf not ruled out. Splits are visited per feature in ascending threshold order, so the scan of a feature
/// stops at the first threshold every row's value is at or below. Otherwise (<c>lockstep</c>), blocks of rows walk each
/// tree in lock step with branch-free steps (a leaf points to itself).
/// </para>
/// <para>
/// The arithmetic is ONNX Runtime's: x &lt;= threshold in float (NaN takes the false child), leaf weights added in float
/// in tree order, then the base value. <see cref="RankerModel"/> checks the result against ONNX Runtime on load and keeps
/// ONNX Runtime when they differ.
/// </para>
/// </summary>
public sealed class CompiledTreeEnsemble
{
    /// <summary>Rows walked together through a tree: enough independent chains to hide the load latency of each step.</summary>
    private const int BlockRows = 16;

    private readonly Node[] _nodes;
    private readonly float[] _leafValues;
    private readonly int[] _roots;
    private readonly int[] _depths;
    private readonly float _baseValue;
    private readonly QuickScorer? _quick;

    private CompiledTreeEnsemble(Node[] nodes, float[] leafValues, int[] roots, int[] depths, float baseValue, int width, (int Feature, float Threshold)[] splits,
        QuickScorer? quick)
    {
        _quick = quick;
        _nodes = nodes;
        _leafValues = leafValues;
        _roots = roots;
        _depths = depths;
        _baseValue = baseValue;
        Width = width;
        Splits = splits;
    }

    /// <summary>Input width (features per row).</summary>
    public int Width { get; }

    public int TreeCount => _roots.Length;

    public int NodeCount => _nodes.Length;

    /// <summary>
    /// <c>quickscorer-avx512</c> (sixteen rows per step in one 512-bit vector), <c>quickscorer</c> (in two 256-bit vectors;
    /// where AVX-512 is absent or off) or <c>lockstep</c>.
    /// </summary>
    public string Method => _quick is null || !QuickScorer.Supported ? "lockstep" : QuickScorer.Wide ? "quickscorer-avx512" : "quickscorer";

    /// <summary>Every split (feature, threshold) of the ensemble: what verification rows are made of.</summary>
    public IReadOnlyList<(int Feature, float Threshold)> Splits { get; }

    [StructLayout(LayoutKind.Sequential)]
    private struct Node
    {
        public int Feature;
        public float Threshold;

        // True child then false child, adjacent: the step reads Unsafe.Add(ref True, goesFalse).
        public int True;
        public int False;
    }

    /// <summary>
    /// Compiles the graph at <paramref name="onnxPath"/> when it is a single tree ensemble of the supported form and
    /// <paramref name="width"/> features wide; otherwise returns null with the reason.
    /// </summary>
    public static CompiledTreeEnsemble? TryCompile(string onnxPath, int width, out string? reason)
    {
        ArgumentException.ThrowIfNullOrEmpty(onnxPath);
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath));
        }
        catch (Exception ex) when (ex is IOException or Google.Protobuf.InvalidProtocolBufferException)
        {
            reason = $"model.onnx does not parse: {ex.Message}";
            return null;
        }

        return TryCompile(model, width, out reason);
    }

    public static CompiledTreeEnsemble? TryCompile(ModelProto model, int width, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        var graph = model.Graph;
        if (graph is null || graph.Node.Count != 1 || graph.Input.Count != 1 || graph.Output.Count != 1)
        {
            return Refuse("the graph is not one node with one input and one output", out reason);
        }

        var node = graph.Node[0];
        if (node.OpType != "TreeEnsembleRegressor" || node.Domain != "ai.onnx.ml" || node.Input.Count != 1 || node.Input[0] != graph.Input[0].Name
            || node.Output.Count != 1 || node.Output[0] != graph.Output[0].Name)
        {
            return Refuse($"the node is {node.Domain}.{node.OpType}, not an ai.onnx.ml.TreeEnsembleRegressor from input to output", out reason);
        }

        var attributes = node.Attribute.ToDictionary(a => a.Name, StringComparer.Ordinal);
        string[] supported =
        [
            "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
            "nodes_missing_value_tracks_true", "nodes_hitrates", "target_treeids", "target_nodeids", "target_ids", "target_weights",
            "n_targets", "aggregate_function", "post_transform", "base_values",
        ];
        if (attributes.Keys.FirstOrDefault(k => !supported.Contains(k, StringComparer.Ordinal)) is { } other)
        {
            return Refuse($"attribute '{other}' is not supported", out reason);
        }

        long[] Ints(string name) => attributes.TryGetValue(name, out var a) ? [.. a.Ints] : [];
        float[] Floats(string name) => attributes.TryGetValue(name, out var a) ? [.. a.Floats] : [];
        string Text(string name, string fallback) => attributes.TryGetValue(name, out var a) ? a.S.ToStringUtf8() : fallback;

        if ((attributes.TryGetValue("n_targets", out var targets) ? targets.I : 1) != 1 || Ints("target_ids").Any(t => t != 0))
        {
            return Refuse("only one target is supported", out reason);
        }

        if (Text("aggregate_function", "SUM") != "SUM" || Text("post_transform", "NONE") != "NONE")
        {
            return Refuse("only SUM aggregation without post transform is supported", out reason);
        }

        if (Ints("nodes_missing_value_tracks_true").Any(t => t != 0))
        {
            return Refuse("missing-value tracks are not supported", out reason);
        }

        var baseValues = Floats("base_values");
        if (baseValues.Length > 1)
        {
            return Refuse("more than one base value", out reason);
        }

        var treeIds = Ints("nodes_treeids");
        var nodeIds = Ints("nodes_nodeids");
        var featureIds = Ints("nodes_featureids");
        var values = Floats("nodes_values");
        var trueIds = Ints("nodes_truenodeids");
        var falseIds = Ints("nodes_falsenodeids");
        var modes = attributes.TryGetValue("nodes_modes", out var m) ? m.Strings.Select(s => s.ToStringUtf8()).ToArray() : [];
        var count = treeIds.Length;
        if (count == 0 || nodeIds.Length != count || featureIds.Length != count || values.Length != count || trueIds.Length != count
            || falseIds.Length != count || modes.Length != count)
        {
            return Refuse("the node attributes disagree in length", out reason);
        }

        // Trees in ascending id order, each contiguous with node ids 0..k-1 in order: the order ONNX Runtime sums them in.
        var roots = new List<int>();
        for (var i = 0; i < count; i++)
        {
            if (i == 0 || treeIds[i] != treeIds[i - 1])
            {
                if (treeIds[i] != roots.Count || nodeIds[i] != 0)
                {
                    return Refuse("trees are not numbered 0, 1, ... with contiguous nodes starting at node 0", out reason);
                }

                roots.Add(i);
            }
            else if (nodeIds[i] != nodeIds[i - 1] + 1)
            {
                return Refuse("node ids of a tree are not 0, 1, ... in order", out reason);
            }
        }

        var nodes = new Node[count];
        var leafValues = new float[count];
        var isLeaf = new bool[count];
        var splits = new List<(int, float)>();
        for (var i = 0; i < count; i++)
        {
            var tree = (int)treeIds[i];
            var treeStart = roots[tree];
            var treeEnd = tree + 1 < roots.Count ? roots[tree + 1] : count;
            switch (modes[i])
            {
                case "LEAF":
                    isLeaf[i] = true;
                    // A leaf steps to itself whatever the input (x <= +inf, and NaN takes the false child, also itself).
                    nodes[i] = new Node { Feature = 0, Threshold = float.PositiveInfinity, True = i, False = i };
                    break;
                case "BRANCH_LEQ":
                    if (featureIds[i] < 0 || featureIds[i] >= width)
                    {
                        return Refuse($"node {i} splits on feature {featureIds[i]} of {width}", out reason);
                    }

                    if (trueIds[i] < 0 || falseIds[i] < 0 || trueIds[i] >= treeEnd - treeStart || falseIds[i] >= treeEnd - treeStart
                        || trueIds[i] == nodeIds[i] || falseIds[i] == nodeIds[i])
                    {
                        return Refuse($"node {i} has a child outside its tree", out reason);
                    }

                    nodes[i] = new Node
                    {
                        Feature = (int)featureIds[i],
                        Threshold = values[i],
                        True = treeStart + (int)trueIds[i],
                        False = treeStart + (int)falseIds[i],
                    };
                    splits.Add(((int)featureIds[i], values[i]));
                    break;
                default:
                    return Refuse($"node mode {modes[i]} is not supported (BRANCH_LEQ and LEAF are)", out reason);
            }
        }

        // One weight per leaf, on a leaf.
        var targetTrees = Ints("target_treeids");
        var targetNodes = Ints("target_nodeids");
        var weights = Floats("target_weights");
        if (targetTrees.Length != targetNodes.Length || targetTrees.Length != weights.Length)
        {
            return Refuse("the target attributes disagree in length", out reason);
        }

        var weighted = new bool[count];
        for (var w = 0; w < weights.Length; w++)
        {
            var tree = targetTrees[w];
            if (tree < 0 || tree >= roots.Count)
            {
                return Refuse($"target {w} names tree {tree}", out reason);
            }

            var start = roots[(int)tree];
            var end = tree + 1 < roots.Count ? roots[(int)tree + 1] : count;
            var index = start + targetNodes[w];
            if (targetNodes[w] < 0 || index >= end || !isLeaf[index] || weighted[index])
            {
                return Refuse($"target {w} is not the one weight of a leaf", out reason);
            }

            weighted[index] = true;
            leafValues[index] = weights[w];
        }

        for (var i = 0; i < count; i++)
        {
            if (isLeaf[i] && !weighted[i])
            {
                return Refuse($"leaf {i} has no weight", out reason);
            }
        }

        // Steps a row needs to reach any leaf of each tree; a cycle or an unreachable leaf-less path is refused.
        var depths = new int[roots.Count];
        for (var t = 0; t < roots.Count; t++)
        {
            var end = t + 1 < roots.Count ? roots[t + 1] : count;
            if (!TryDepth(nodes, isLeaf, roots[t], end - roots[t], out depths[t]))
            {
                return Refuse($"tree {t} is not a tree (a cycle, or a path longer than its node count)", out reason);
            }
        }

        reason = null;
        return new CompiledTreeEnsemble(nodes, leafValues, [.. roots], depths, baseValues.Length == 1 ? baseValues[0] : 0f, width, [.. splits],
            QuickScorer.TryBuild(nodes, isLeaf, leafValues, roots, count, width));
    }

    /// <summary>Scores row-major rows (<see cref="Width"/> floats each) into <paramref name="scores"/>.</summary>
    public void Score(ReadOnlySpan<float> rows, Span<float> scores)
    {
        if (rows.Length != (long)scores.Length * Width)
        {
            throw new ArgumentException($"Expected {scores.Length} rows of {Width} features, got {rows.Length} values.", nameof(rows));
        }

        if (_quick is not null && QuickScorer.Supported)
        {
            _quick.Score(rows, scores, Width, _baseValue, allowWide: true);
        }
        else
        {
            ScoreLockstep(rows, scores);
        }
    }

    /// <summary>
    /// The QuickScorer with 256-bit vectors, or 512-bit ones when <paramref name="allowWide"/> and the machine has them
    /// (tests and benches compare both); false when the ensemble or the machine has no QuickScorer path.
    /// </summary>
    public bool TryScoreQuickScorer(ReadOnlySpan<float> rows, Span<float> scores, bool allowWide)
    {
        if (rows.Length != (long)scores.Length * Width)
        {
            throw new ArgumentException($"Expected {scores.Length} rows of {Width} features, got {rows.Length} values.", nameof(rows));
        }

        if (_quick is null || !QuickScorer.Supported)
        {
            return false;
        }

        _quick.Score(rows, scores, Width, _baseValue, allowWide);
        return true;
    }

    /// <summary>The lock-step walk whatever <see cref="Method"/> says (tests compare both with ONNX Runtime).</summary>
    internal void ScoreLockstep(ReadOnlySpan<float> rows, Span<float> scores)
    {
        if (rows.Length != (long)scores.Length * Width)
        {
            throw new ArgumentException($"Expected {scores.Length} rows of {Width} features, got {rows.Length} values.", nameof(rows));
        }

        Span<int> at = stackalloc int[BlockRows];
        Span<int> offsets = stackalloc int[BlockRows];
        Span<float> sums = stackalloc float[BlockRows];
        ref var node0 = ref MemoryMarshal.GetArrayDataReference(_nodes);
        ref var leaf0 = ref MemoryMarshal.GetArrayDataReference(_leafValues);
        ref var x0 = ref MemoryMarshal.GetReference(rows);
        for (var start = 0; start < scores.Length; start += BlockRows)
        {
            var block = Math.Min(BlockRows, scores.Length - start);
            for (var r = 0; r < block; r++)
            {
                offsets[r] = (start + r) * Width;
                sums[r] = 0f;
            }

            for (var t = 0; t < _roots.Length; t++)
            {
                var root = _roots[t];
                at[..block].Fill(root);
                for (var step = _depths[t]; step > 0; step--)
                {
                    for (var r = 0; r < block; r++)
                    {
                        // SAFETY: every node index is a valid index of _nodes (built and checked in TryCompile: children stay
                        // within their tree, leaves point to themselves), every Feature is < Width, and rows holds
                        // scores.Length * Width floats (checked above), so offsets[r] + Feature is within rows. True and False
                        // are adjacent fields of the sequential Node, so adding 0 or 1 to a reference to True reads one of them.
                        ref var n = ref Unsafe.Add(ref node0, at[r]);
                        var x = Unsafe.Add(ref x0, offsets[r] + n.Feature);
                        var goesFalse = Unsafe.BitCast<bool, byte>(!(x <= n.Threshold));
                        at[r] = Unsafe.Add(ref n.True, goesFalse);
                    }
                }

                for (var r = 0; r < block; r++)
                {
                    // SAFETY: at[r] is a node index (see above), and _leafValues is as long as _nodes.
                    sums[r] += Unsafe.Add(ref leaf0, at[r]);
                }
            }

            for (var r = 0; r < block; r++)
            {
                scores[start + r] = sums[r] + _baseValue;
            }
        }
    }

    /// <summary>
    /// Rows that take every split both ways: each value is a threshold of its feature, the next float above one, a value
    /// between the smallest and largest threshold, or 0, drawn with <paramref name="seed"/>.
    /// </summary>
    public float[] VerificationRows(int rowCount, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowCount, 1);
        var byFeature = new List<float>[Width];
        for (var f = 0; f < Width; f++)
        {
            byFeature[f] = [];
        }

        foreach (var (feature, threshold) in Splits)
        {
            if (float.IsFinite(threshold))
            {
                byFeature[feature].Add(threshold);
            }
        }

        var random = new Random(seed);
        var rows = new float[rowCount * Width];
        for (var r = 0; r < rowCount; r++)
        {
            for (var f = 0; f < Width; f++)
            {
                var thresholds = byFeature[f];
                float value;
                if (thresholds.Count == 0)
                {
                    value = (float)(random.NextDouble() * 2 - 1);
                }
                else
                {
                    var t = thresholds[random.Next(thresholds.Count)];
                    value = random.Next(4) switch
                    {
                        0 => t,
                        1 => MathF.BitIncrement(t),
                        2 => thresholds[random.Next(thresholds.Count)] + ((thresholds[random.Next(thresholds.Count)] - t) * (float)random.NextDouble()),
                        _ => random.Next(8) == 0 ? 0f : MathF.BitDecrement(t),
                    };
                }

                rows[(r * Width) + f] = value;
            }
        }

        return rows;
    }

    private static bool TryDepth(Node[] nodes, bool[] isLeaf, int root, int size, out int depth)
    {
        depth = 0;
        var stack = new Stack<(int Node, int Depth)>();
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            var (n, d) = stack.Pop();
            if (d > size)
            {
                return false;
            }

            if (isLeaf[n])
            {
                depth = Math.Max(depth, d);
                continue;
            }

            stack.Push((nodes[n].True, d + 1));
            stack.Push((nodes[n].False, d + 1));
        }

        return true;
    }

    /// <summary>
    /// The QuickScorer layout: every split by feature and ascending threshold, with the leaves it leaves possible when false,
    /// and every tree's leaf values in 32 slots by leaf number.
    /// </summary>
    private sealed class QuickScorer
    {
        /// <summary>Rows scored together: one 512-bit vector or two 256-bit ones of possible-leaf masks per tree.</summary>
        private const int Block = 16;

        /// <summary>Leaf slots per tree in <see cref="_leafTable"/> (leaf numbers are 0-31).</summary>
        private const int LeafSlots = 32;

        private readonly int[] _featureStart;
        private readonly float[] _thresholds;
        private readonly int[] _trees;
        private readonly uint[] _keep;
        private readonly float[] _leafTable;
        private readonly int _treeCount;

        private QuickScorer(int[] featureStart, float[] thresholds, int[] trees, uint[] keep, float[] leafTable, int treeCount)
        {
            _featureStart = featureStart;
            _thresholds = thresholds;
            _trees = trees;
            _keep = keep;
            _leafTable = leafTable;
            _treeCount = treeCount;
        }

        /// <summary>Whether <see cref="Score"/> can take the 512-bit path on this machine (<c>DOTNET_EnableAVX512=0</c> turns it off).</summary>
        public static bool Wide => Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx512CD.IsSupported;

        /// <summary>Whether the QuickScorer runs here at all (256-bit integer vectors and gathers).</summary>
        public static bool Supported => Avx2.IsSupported && Vector256.IsHardwareAccelerated;

        /// <summary>Null when a tree has more than 32 leaves or a node is reached twice (not a tree).</summary>
        public static QuickScorer? TryBuild(Node[] nodes, bool[] isLeaf, float[] nodeLeafValues, List<int> roots, int count, int width)
        {
            var splits = new List<(int Feature, float Threshold, int Tree, uint Keep)>();
            var leafTable = new float[roots.Count * LeafSlots];
            var seen = new bool[count];
            for (var t = 0; t < roots.Count; t++)
            {
                var leaves = 0;
                if (!WalkRange(roots[t], out _, out _))
                {
                    return null;
                }

                // In order: the true subtree's leaves, then the false subtree's; gives the range of leaf numbers it holds.
                bool WalkRange(int node, out int first, out int last)
                {
                    first = last = 0;
                    if (seen[node])
                    {
                        return false;
                    }

                    seen[node] = true;
                    if (isLeaf[node])
                    {
                        if (leaves == LeafSlots)
                        {
                            return false;
                        }

                        first = last = leaves++;
                        leafTable[(t * LeafSlots) + first] = nodeLeafValues[node];
                        return true;
                    }

                    if (!WalkRange(nodes[node].True, out first, out var trueLast) || !WalkRange(nodes[node].False, out _, out last))
                    {
                        return false;
                    }

                    // False rules out the true subtree's leaves, numbers first..trueLast.
                    var ruledOut = (uint)(((1UL << (trueLast + 1)) - 1) & ~((1UL << first) - 1));
                    splits.Add((nodes[node].Feature, nodes[node].Threshold, t, ~ruledOut));
                    return true;
                }
            }

            // Stable by feature then threshold (equal thresholds in any order: they rule out together).
            var ordered = splits.OrderBy(s => s.Feature).ThenBy(s => s.Threshold).ToArray();
            var featureStart = new int[width + 1];
            foreach (var split in ordered)
            {
                featureStart[split.Feature + 1]++;
            }

            for (var f = 0; f < width; f++)
            {
                featureStart[f + 1] += featureStart[f];
            }

            return new QuickScorer(featureStart, [.. ordered.Select(s => s.Threshold)], [.. ordered.Select(s => s.Tree)], [.. ordered.Select(s => s.Keep)],
                leafTable, roots.Count);
        }

        /// <summary>Scores with 512-bit vectors when <paramref name="allowWide"/> and <see cref="Wide"/>, else 256-bit ones.</summary>
        public void Score(ReadOnlySpan<float> rows, Span<float> scores, int width, float baseValue, bool allowWide)
        {
            if (allowWide && Wide)
            {
                Score512(rows, scores, width, baseValue);
            }
            else
            {
                Score256(rows, scores, width, baseValue);
            }
        }

        /// <summary>Feature <paramref name="f"/> of the block's rows; lanes past the last row repeat it (their results are not kept).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Gather(ReadOnlySpan<float> rows, int start, int block, int width, int f, Span<float> lane)
        {
            if (block == Block)
            {
                var at = (start * width) + f;
                for (var r = 0; r < Block; r++, at += width)
                {
                    lane[r] = rows[at];
                }
            }
            else
            {
                for (var r = 0; r < Block; r++)
                {
                    lane[r] = rows[((start + Math.Min(r, block - 1)) * width) + f];
                }
            }
        }

        /// <summary>Sixteen rows per step in one 512-bit vector; exit leaves picked from the tree's 32 slots by a two-table permute.</summary>
        private void Score512(ReadOnlySpan<float> rows, Span<float> scores, int width, float baseValue)
        {
            var trees = _treeCount;
            // Per tree, the possible leaves of the block's 16 rows (12.5 KB for 200 trees); past 512 trees (32 KB) from the pool.
            var rented = trees <= 512 ? null : ArrayPool<Vector512<uint>>.Shared.Rent(trees);
            Span<Vector512<uint>> possible = rented is null ? stackalloc Vector512<uint>[trees] : rented.AsSpan(0, trees);
            Span<float> lane = stackalloc float[Block];
            ref var possible0 = ref MemoryMarshal.GetReference(possible);
            var bases = Vector512.Create(baseValue);
            for (var start = 0; start < scores.Length; start += Block)
            {
                var block = Math.Min(Block, scores.Length - start);
                possible.Fill(Vector512<uint>.AllBitsSet);
                for (var f = 0; f < width; f++)
                {
                    var from = _featureStart[f];
                    var to = _featureStart[f + 1];
                    if (from < to)
                    {
                        Gather(rows, start, block, width, f, lane);
                        Splits512(ref MemoryMarshal.GetArrayDataReference(_thresholds), ref MemoryMarshal.GetArrayDataReference(_trees),
                            ref MemoryMarshal.GetArrayDataReference(_keep), ref possible0, from, to, Vector512.Create<float>(lane));
                    }
                }

                var sum = LeafSums512(ref possible0, ref MemoryMarshal.GetArrayDataReference(_leafTable), trees) + bases;
                if (block == Block)
                {
                    sum.StoreUnsafe(ref MemoryMarshal.GetReference(scores), (nuint)start);
                }
                else
                {
                    sum.StoreUnsafe(ref MemoryMarshal.GetReference(lane));
                    lane[..block].CopyTo(scores.Slice(start, block));
                }
            }

            if (rented is not null)
            {
                ArrayPool<Vector512<uint>>.Shared.Return(rented);
            }
        }

        /// <summary>
        /// Splits <paramref name="from"/>..<paramref name="to"/> (one feature's, ascending thresholds) over the block's values
        /// <paramref name="x"/>. A method of its own so that its loop keeps every base in a register.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Splits512(ref float threshold0, ref int tree0, ref uint keep0, ref Vector512<uint> possible0, int from, int to, Vector512<float> x)
        {
            for (var k = from; k < to; k++)
            {
                // SAFETY: k < _featureStart[width] = the length of _thresholds, _trees and _keep (built together in TryBuild),
                // and every _trees entry is a tree number < trees, an index of possible.
                var atOrBelow = Vector512.LessThanOrEqual(x, Vector512.Create(Unsafe.Add(ref threshold0, k)));
                if (Vector512.ExtractMostSignificantBits(atOrBelow) == 0xFFFFu)
                {
                    // Every row is at or below this threshold, so at or below every later one of this feature.
                    return;
                }

                Unsafe.Add(ref possible0, Unsafe.Add(ref tree0, k)) &= atOrBelow.AsUInt32() | Vector512.Create(Unsafe.Add(ref keep0, k));
            }
        }

        /// <summary>
        /// Each lane's sum of its exit leaves' values in tree order, as the scalar walk adds them (the same float additions,
        /// sixteen rows at once). The exit leaf is the leftmost possible one: the lowest set bit, numbered 31 - its leading zeros.
        /// </summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static Vector512<float> LeafSums512(ref Vector512<uint> possible0, ref float table0, int trees)
        {
            var lastSlot = Vector512.Create((uint)(LeafSlots - 1));
            var sum = Vector512<float>.Zero;
            for (var t = 0; t < trees; t++)
            {
                // SAFETY: t < trees, the length of possible; t * 32 + 32 <= _leafTable.Length (32 slots per tree). The lowest set
                // bit is a leaf of tree t (see ExitLeaf), so the permute picks one of the tree's 32 slots.
                var masks = Unsafe.Add(ref possible0, t);
                var leaf = Avx512CD.LeadingZeroCount(masks & (Vector512<uint>.Zero - masks)) ^ lastSlot;
                ref var slots = ref Unsafe.Add(ref table0, t * LeafSlots);
                sum += Avx512F.PermuteVar16x32x2(Vector512.LoadUnsafe(ref slots), leaf.AsInt32(), Vector512.LoadUnsafe(ref slots, 16));
            }

            return sum;
        }

        /// <summary>Sixteen rows per step in two 256-bit vectors; exit leaves gathered from the tree's 32 slots.</summary>
        private void Score256(ReadOnlySpan<float> rows, Span<float> scores, int width, float baseValue)
        {
            const int Lanes = 8;
            var trees = _treeCount;
            // Per tree, the possible leaves of the block's rows as two 8-lane masks, side by side (12.5 KB for 200 trees).
            var rented = trees <= 512 ? null : ArrayPool<Vector256<uint>>.Shared.Rent(trees * 2);
            Span<Vector256<uint>> possible = rented is null ? stackalloc Vector256<uint>[trees * 2] : rented.AsSpan(0, trees * 2);
            Span<float> lane = stackalloc float[Block];
            ref var possible0 = ref MemoryMarshal.GetReference(possible);
            var bases = Vector256.Create(baseValue);
            for (var start = 0; start < scores.Length; start += Block)
            {
                var block = Math.Min(Block, scores.Length - start);
                possible.Fill(Vector256<uint>.AllBitsSet);
                for (var f = 0; f < width; f++)
                {
                    var from = _featureStart[f];
                    var to = _featureStart[f + 1];
                    if (from < to)
                    {
                        Gather(rows, start, block, width, f, lane);
                        Splits256(ref MemoryMarshal.GetArrayDataReference(_thresholds), ref MemoryMarshal.GetArrayDataReference(_trees),
                            ref MemoryMarshal.GetArrayDataReference(_keep), ref possible0, from, to, Vector256.Create<float>(lane[..Lanes]),
                            Vector256.Create<float>(lane[Lanes..]));
                    }
                }

                var (sumLow, sumHigh) = LeafSums256(ref possible0, _leafTable, trees);
                sumLow += bases;
                sumHigh += bases;
                ref var into = ref block == Block ? ref MemoryMarshal.GetReference(scores.Slice(start, Block)) : ref MemoryMarshal.GetReference(lane);
                sumLow.StoreUnsafe(ref into);
                sumHigh.StoreUnsafe(ref into, Lanes);
                if (block < Block)
                {
                    lane[..block].CopyTo(scores.Slice(start, block));
                }
            }

            if (rented is not null)
            {
                ArrayPool<Vector256<uint>>.Shared.Return(rented);
            }
        }

        /// <summary>As <see cref="Splits512"/>, the block's rows in two 8-lane halves.</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Splits256(ref float threshold0, ref int tree0, ref uint keep0, ref Vector256<uint> possible0, int from, int to,
            Vector256<float> low, Vector256<float> high)
        {
            for (var k = from; k < to; k++)
            {
                // SAFETY: k < _featureStart[width] = the length of _thresholds, _trees and _keep (built together in TryBuild),
                // and every _trees entry is a tree number < trees, whose two masks lie within possible.
                var threshold = Vector256.Create(Unsafe.Add(ref threshold0, k));
                var lowAtOrBelow = Vector256.LessThanOrEqual(low, threshold).AsUInt32();
                var highAtOrBelow = Vector256.LessThanOrEqual(high, threshold).AsUInt32();
                if ((lowAtOrBelow & highAtOrBelow) == Vector256<uint>.AllBitsSet)
                {
                    // Every row is at or below this threshold, so at or below every later one of this feature.
                    return;
                }

                var keep = Vector256.Create(Unsafe.Add(ref keep0, k));
                ref var masks = ref Unsafe.Add(ref possible0, Unsafe.Add(ref tree0, k) * 2);
                masks &= lowAtOrBelow | keep;
                Unsafe.Add(ref masks, 1) &= highAtOrBelow | keep;
            }
        }

        /// <summary>As <see cref="LeafSums512"/>, eight rows per vector, the exit leaves' values gathered.</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static unsafe (Vector256<float> Low, Vector256<float> High) LeafSums256(ref Vector256<uint> possible0, float[] leafTable, int trees)
        {
            var exponentMask = Vector256.Create(0xFFu);
            var sumLow = Vector256<float>.Zero;
            var sumHigh = Vector256<float>.Zero;
            fixed (float* table = leafTable)
            {
                for (var t = 0; t < trees; t++)
                {
                    // SAFETY: t < trees, so both masks of tree t lie within possible; the gathers read slot t * 32 + the exit
                    // leaf's number (0-31, see ExitLeaf), within leafTable (32 slots per tree).
                    var slots = Vector256.Create(t * LeafSlots);
                    ref var masks = ref Unsafe.Add(ref possible0, t * 2);
                    sumLow += Avx2.GatherVector256(table, slots + ExitLeaf(masks, exponentMask), 4);
                    sumHigh += Avx2.GatherVector256(table, slots + ExitLeaf(Unsafe.Add(ref masks, 1), exponentMask), 4);
                }
            }

            return (sumLow, sumHigh);
        }

        /// <summary>
        /// The number of each lane's lowest set bit, from the exponent of that bit converted to float (2^31 converts as -2^31,
        /// whose exponent is the same). SAFETY (for the gather and the permute, which read slot t * 32 + this): the exit
        /// leaf's bit is never cleared (a split rules out only leaves of its true subtree, and the exit leaf is in the true
        /// subtree of no false split on its path), so every lane has a set bit, the lowest is a leaf of the tree (bits past
        /// its leaf count are never cleared but are higher) and its number is 0-31.
        /// </summary>
        private static Vector256<int> ExitLeaf(Vector256<uint> masks, Vector256<uint> exponentMask)
        {
            var lowest = masks & (Vector256<uint>.Zero - masks);
            var exponent = Vector256.ShiftRightLogical(Vector256.ConvertToSingle(lowest.AsInt32()).AsUInt32(), 23) & exponentMask;
            return exponent.AsInt32() - Vector256.Create(127);
        }
    }

    private static CompiledTreeEnsemble? Refuse(string why, out string? reason)
    {
        reason = why;
        return null;
    }
}
