using StateGen;

[PersistentState]
public class NotPartialAgent
{
    public string Id { get; set; } = "";
}
