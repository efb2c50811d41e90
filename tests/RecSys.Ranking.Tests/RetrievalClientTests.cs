using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using RecSys.Candidates;
using RecSys.Core.Contracts;
using RecSys.Ranking.Features;
using RecSys.Ranking.Services;

namespace RecSys.Ranking.Tests;

public sealed class RetrievalClientTests
{
    private static CandidateResponse Response(int count) => new(
        "u1",
        [.. Enumerable.Range(0, count).Select(i => new CandidateDto($"i{i}", 1.0 / (i + 1), i % 2 == 0 ? ["collaborative"] : ["collaborative", "trending"]))],
        [new SourceReport("collaborative", count, 1.5, false, null), new SourceReport("trending", count / 2, 0.5, false, null)],
        [],
        3) { IndexCoverage = 1 };

    private static HttpResponseMessage Compact(CandidateResponse response, bool withLength)
    {
        var output = new ArrayBufferWriter<byte>();
        CandidateWireFormat.TryEncode(response)!.WriteTo(output);
        HttpContent content = withLength ? new ByteArrayContent(output.WrittenSpan.ToArray()) : new StreamContent(new MemoryStream(output.WrittenSpan.ToArray()));
        content.Headers.ContentType = new MediaTypeHeaderValue(CandidateWireFormat.MediaType);
        if (!withLength)
        {
            content.Headers.ContentLength = null;
        }

        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    [Theory]
    [InlineData(5000, true)]
    [InlineData(20_000, false)]
    public async Task Asks_for_the_compact_form_and_decodes_it(int count, bool withLength)
    {
        var expected = Response(count);
        var retrieval = new ScriptedRetrieval { Script = (_, _, _) => Task.FromResult(Compact(expected, withLength)) };
        var client = new RetrievalClient(new HttpClient(retrieval) { BaseAddress = new Uri("http://retrieval") });

        var response = await client.GetCandidatesAsync(new CandidateRequest("u1", null, count, null), CancellationToken.None);

        Assert.Contains(retrieval.LastAccept, a => a.MediaType == CandidateWireFormat.MediaType);
        Assert.Contains(retrieval.LastAccept, a => a.MediaType == "application/json");
        Assert.Equal(count, response.Candidates.Count);
        Assert.Equal(expected.Candidates[^1].ItemId, response.Candidates[^1].ItemId);
        Assert.Equal(["collaborative", "trending"], response.Candidates[1].Sources);
        Assert.Equal(1, response.IndexCoverage);
    }

    [Fact]
    public async Task Still_reads_json_from_a_retrieval_without_the_compact_form()
    {
        var retrieval = new ScriptedRetrieval { Script = (_, _, _) => Task.FromResult(ScriptedRetrieval.Ok(Response(3))) };
        var client = new RetrievalClient(new HttpClient(retrieval) { BaseAddress = new Uri("http://retrieval") });

        var response = await client.GetCandidatesAsync(new CandidateRequest("u1", null, 3, null), CancellationToken.None);

        Assert.Equal(["i0", "i1", "i2"], response.Candidates.Select(c => c.ItemId));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Ranking_candidates_are_the_candidates_of_either_form(bool compact)
    {
        var expected = Response(5000);
        var retrieval = new ScriptedRetrieval { Script = (_, _, _) => Task.FromResult(compact ? Compact(expected, withLength: true) : ScriptedRetrieval.Ok(expected)) };
        var client = new RetrievalClient(new HttpClient(retrieval) { BaseAddress = new Uri("http://retrieval") });

        var response = await client.GetRankingCandidatesAsync(new CandidateRequest("u1", null, 5000, null), CancellationToken.None);

        Assert.Equal(expected.Candidates.Select(c => (c.ItemId, c.Score, string.Join(',', c.Sources))),
            response.Candidates.Select(c => (c.ItemId, c.RetrievalScore, string.Join(',', c.Sources))));
        Assert.Equal(1, response.IndexCoverage);
        Assert.Empty(response.Degraded);
    }

    [Fact]
    public async Task With_an_item_table_known_ids_take_the_catalog_strings_and_their_numbers()
    {
        // Candidates: catalog items (ASCII and not), items the catalog lacks, one id whose bytes are a catalog id's prefix.
        var catalogIds = Enumerable.Range(0, 3000).Select(i => i % 7 == 0 ? $"é-{i}" : $"i{i}").Append("i1").Distinct().ToArray();
        var snapshot = ItemFeatureSnapshot.Of(catalogIds.Select(id => new KeyValuePair<string, EntityValues>(id, new EntityValues())));
        var candidateIds = Enumerable.Range(0, 5000).Select(i => i % 7 == 0 ? $"é-{i}" : $"i{i}").Append("i").ToArray();
        var expected = new CandidateResponse("u1", [.. candidateIds.Select((id, i) => new CandidateDto(id, 1.0 / (i + 1), ["collaborative"]))],
            [new SourceReport("collaborative", candidateIds.Length, 1, false, null)], [], 1);
        var retrieval = new ScriptedRetrieval { Script = (_, _, _) => Task.FromResult(Compact(expected, withLength: true)) };
        var client = new RetrievalClient(new HttpClient(retrieval) { BaseAddress = new Uri("http://retrieval") }, () => snapshot);

        var response = await client.GetRankingCandidatesAsync(new CandidateRequest("u1", null, candidateIds.Length, null), CancellationToken.None);

        // The same candidates as without a table (record equality ignores the table's numbers) ...
        var plain = await new RetrievalClient(new HttpClient(retrieval) { BaseAddress = new Uri("http://retrieval") })
            .GetRankingCandidatesAsync(new CandidateRequest("u1", null, candidateIds.Length, null), CancellationToken.None);
        Assert.Equal(plain.Candidates.Select(c => (c.ItemId, c.RetrievalScore, string.Join(',', c.Sources))),
            response.Candidates.Select(c => (c.ItemId, c.RetrievalScore, string.Join(',', c.Sources))));
        Assert.Equal(plain.Candidates[0] with { Sources = response.Candidates[0].Sources }, response.Candidates[0]);
        Assert.Equal(candidateIds, response.Candidates.Select(c => c.ItemId));
        Assert.All(plain.Candidates, c => Assert.Equal(0, c.TableStamp));
        var known = 0;
        foreach (var candidate in response.Candidates)
        {
            if (snapshot.TryGetNumber(candidate.ItemId, out var number))
            {
                // ... each known one with its number in this snapshot and the snapshot's own string.
                known++;
                Assert.Equal(snapshot.Stamp, candidate.TableStamp);
                Assert.Equal(number, candidate.TableNumber);
                Assert.True(snapshot.TryResolveUtf8(System.Text.Encoding.UTF8.GetBytes(candidate.ItemId), out var catalogId, out _));
                Assert.Same(catalogId, candidate.ItemId);
            }
            else
            {
                Assert.Equal(0, candidate.TableStamp);
            }
        }

        Assert.Equal(catalogIds.Length, known);
    }
}
