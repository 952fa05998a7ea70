// Editing a node in place: used by the host tool and when the hypervisor builds a guest's tree.
// Property and child names stay unique, as the specification requires, by replacing on add.

extension DTNode {
    /// Adds `property`, replacing an existing property of the same name in its position.
    public mutating func setProperty(_ property: DTProperty) {
        var i = 0
        while i < properties.count {
            if properties[i].name == property.name {
                properties[i] = property
                return
            }
            i &+= 1
        }
        properties.append(property)
    }

    @discardableResult
    public mutating func removeProperty(named name: StaticString) -> DTProperty? {
        guard let i = properties.firstIndex(where: { $0.hasName(name) }) else { return nil }
        return properties.remove(at: i)
    }

    @discardableResult
    public mutating func removeProperty(named name: [UInt8]) -> DTProperty? {
        guard let i = properties.firstIndex(where: { $0.name == name }) else { return nil }
        return properties.remove(at: i)
    }

    /// Adds `child`, replacing an existing child with the same full name in its position.
    public mutating func setChild(_ child: DTNode) {
        var i = 0
        while i < children.count {
            if children[i].name == child.name {
                children[i] = child
                return
            }
            i &+= 1
        }
        children.append(child)
    }

    @discardableResult
    public mutating func removeChild(named name: StaticString) -> DTNode? {
        guard let i = children.firstIndex(where: { $0.hasName(name) }) else { return nil }
        return children.remove(at: i)
    }

    @discardableResult
    public mutating func removeChild(named name: [UInt8]) -> DTNode? {
        guard let i = children.firstIndex(where: { $0.name == name }) else { return nil }
        return children.remove(at: i)
    }

    /// Runs `body` on the child with this exact name, creating an empty child first if needed.
    @discardableResult
    public mutating func withChild<R>(named name: [UInt8], _ body: (inout DTNode) -> R) -> R {
        var i = 0
        while i < children.count {
            if children[i].name == name { return body(&children[i]) }
            i &+= 1
        }
        children.append(DTNode(name: name))
        return body(&children[children.count &- 1])
    }
}
