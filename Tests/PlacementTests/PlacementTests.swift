import Testing
@testable import Placement
