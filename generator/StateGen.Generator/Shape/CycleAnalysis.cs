using System.Collections.Generic;
using System.Linq;

namespace StateGen.Generator.Shape;

/// <summary>
/// Proves, at compile time, which plain object types of a persisted graph cannot take part in a reference cycle. Only
/// the types that can reach themselves through their members (directly or through lists, sets, dictionaries and
/// nullable values) get a runtime guard; for the others the generated code has no reference tracking at all.
/// </summary>
/// <remarks>
/// <para>
/// A member of another <c>[PersistentState]</c> type is an edge to that type, whose own members (and plain objects)
/// are part of the graph: the nodes are every plain object and every persistent type reachable from the root, each
/// persistent type given as an <see cref="ObjectShape"/> of its root members.
/// </para>
/// JSON pass-through members (<c>JsonElement</c>, <c>JsonNode</c>) and members delegated to a
/// <c>JsonSerializerContext</c> are opaque: they have no edges here. A delegated value is walked by System.Text.Json,
/// whose own depth limit (the context's <c>MaxDepth</c>, 64 by default) stops a cycle inside it.
/// </remarks>
internal static class CycleAnalysis
{
    /// <summary>
    /// The types that enter the guard: those that can reach a type that can reach itself (which includes that type).
    /// Value types never do: a struct is copied, so it cannot be met again by reference.
    /// </summary>
    /// <param name="marked">The nodes, with their loops marked.</param>
    /// <param name="seed">Types known to be guarded already (nodes of a larger graph this one leads into).</param>
    public static HashSet<string> Guarded(IEnumerable<ObjectShape> marked, IEnumerable<string>? seed = null)
    {
        var guarded = new HashSet<string>(marked.Where(o => o.Cycle is not null && !o.IsValueType).Select(o => o.FullName));
        guarded.UnionWith(seed ?? Enumerable.Empty<string>());
        bool grew = guarded.Count > 0;
        while (grew)
        {
            grew = false;
            foreach (ObjectShape o in marked)
            {
                if (!o.IsValueType && !guarded.Contains(o.FullName) && o.Members.Any(m => m.WritesValue && Reaches(m.Type, guarded)))
                {
                    guarded.Add(o.FullName);
                    grew = true;
                }
            }
        }

        return guarded;
    }

    public static IEnumerable<ObjectShape> MarkRecursive(IEnumerable<ObjectShape> objects)
    {
        List<ObjectShape> all = objects.ToList();
        var byName = all.ToDictionary(o => o.FullName);
        foreach (ObjectShape shape in all)
        {
            string? loop = FindLoop(shape, byName);
            yield return loop is null ? shape : shape with { Cycle = loop };
        }
    }

    /// <summary>The member names that hold object types, with the path suffix used to reach the element.</summary>
    public static IEnumerable<(string Member, string Step, string Target)> Edges(ObjectShape shape)
    {
        foreach (MemberShape member in shape.Members)
        {
            if (!member.WritesValue)
            {
                continue; // never written (omitted, or a marker without a fingerprint)
            }

            foreach ((string step, string target) in Targets(member.Type, string.Empty))
            {
                yield return (member.JsonName, step, target);
            }
        }
    }

    /// <summary>Whether values of this member type can contain a plain object from <paramref name="recursive"/>.</summary>
    public static bool Reaches(TypeShape type, ISet<string> recursive) => Targets(type, string.Empty).Any(t => recursive.Contains(t.Target));

    private static IEnumerable<(string Step, string Target)> Targets(TypeShape type, string step)
    {
        switch (type.Kind)
        {
            case ShapeKind.Object or ShapeKind.PersistentState:
                yield return (step, type.FullName);
                break;
            case ShapeKind.Nullable:
                foreach ((string, string) inner in Targets(type.Element!, step))
                {
                    yield return inner;
                }

                break;
            case ShapeKind.Array or ShapeKind.List or ShapeKind.Set:
                foreach ((string, string) inner in Targets(type.Element!, step + "[]"))
                {
                    yield return inner;
                }

                break;
            case ShapeKind.Dictionary:
                foreach ((string, string) inner in Targets(type.Element!, step + "{}"))
                {
                    yield return inner;
                }

                break;
        }
    }

    /// <summary>Breadth-first search from the type back to itself; the shortest loop as text, or null.</summary>
    private static string? FindLoop(ObjectShape start, Dictionary<string, ObjectShape> byName)
    {
        var previous = new Dictionary<string, (string From, string Label)>();
        var queue = new Queue<string>();
        queue.Enqueue(start.FullName);
        while (queue.Count > 0)
        {
            string current = queue.Dequeue();
            if (!byName.TryGetValue(current, out ObjectShape? shape))
            {
                continue;
            }

            foreach ((string member, string step, string target) in Edges(shape))
            {
                string label = Simple(current) + "." + member + step;
                if (target == start.FullName)
                {
                    var parts = new List<string> { label };
                    for (string at = current; at != start.FullName; at = previous[at].From)
                    {
                        parts.Insert(0, previous[at].Label);
                    }

                    return string.Join(" → ", parts) + " → " + Simple(start.FullName);
                }

                if (!previous.ContainsKey(target) && target != start.FullName)
                {
                    previous[target] = (current, label);
                    queue.Enqueue(target);
                }
            }
        }

        return null;
    }

    private static string Simple(string fullName)
    {
        string name = fullName.Replace("global::", string.Empty);
        int generic = name.IndexOf('<');
        string head = generic < 0 ? name : name.Substring(0, generic);
        int dot = head.LastIndexOf('.');
        return dot < 0 ? name : name.Substring(dot + 1);
    }
}
